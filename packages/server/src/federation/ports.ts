/**
 * What the parts of the federation core share (federationCore.ts builds it): sending in an
 * envelope to a peer, local delivery, the hub key, the refusal count. And this hub's copy of
 * a peer's hub frame: re-signed by this hub, because a client pins its home hub's key only.
 */
import {
  type DeviceSigner,
  type Frame,
  FrameHeader,
  isHubError,
  type ProtocolErrorCode,
  signFrame,
} from "@kalandra/proto";
import type { Sink } from "../vocabulary/target.js";

/** The envelope fields a sender may set besides origin, time and hops. */
export interface EnvelopeExtra {
  userId?: string;
  deviceKey?: Uint8Array;
  term?: bigint;
  positionSig?: Uint8Array;
  to?: bigint[];
  members?: bigint[];
  roomState?: Uint8Array;
  termStarts?: readonly (readonly [bigint, bigint])[];
}

export interface FederationPorts {
  /** Seals `frame` in an envelope to `domain` (dropped while its link is down). */
  send(domain: string, frame: Uint8Array, extra: EnvelopeExtra): void;
  /** Local delivery (the hub's sink). */
  sink: Sink;
  signer: DeviceSigner;
  /** Counts a refused peer frame by its error code. */
  count(code: ProtocolErrorCode): void;
}

/** `frame` re-signed by `signer` (a copy; the whole header is covered, DESIGN §3). */
export function resign(signer: DeviceSigner, frame: Uint8Array): Uint8Array {
  const copy = frame.slice();
  signFrame(copy, signer);
  return copy;
}

/** This hub's copy of a peer's hub frame: re-signed, except an (unsigned) hub refusal. */
export function ownCopy(signer: DeviceSigner, inner: Frame): Uint8Array {
  const bytes = inner.toWire();
  return isHubError(inner.header) ? bytes.slice() : resign(signer, bytes);
}

/** A stored header as this hub serves it: an entry of the hub's own re-signed (header only). */
export function ownHeader(
  signer: DeviceSigner,
  header: Uint8Array,
  payload: Uint8Array | null,
): Uint8Array {
  if (FrameHeader.view(header).senderId !== 0n || payload === null) return header;
  const whole = new Uint8Array(header.length + payload.length);
  whole.set(header);
  whole.set(payload, header.length);
  return resign(signer, whole).subarray(0, header.length);
}
