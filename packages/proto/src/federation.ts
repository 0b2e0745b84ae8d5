/**
 * Frames between hubs (DESIGN §11; docs/protocol.md "Federation"): the envelope every frame
 * on a hub link travels in, the authority's proof of a frame's position, and the bytes a
 * hub link handshake signs.
 *
 * An envelope is a hub frame (sender_id 0, FEDERATED) signed by the forwarding hub over its
 * whole header and payload (DESIGN §3), so origin, forwarded_at, hop count and the inner
 * frame are all covered. Its header repeats the inner frame's room, position and epoch so a
 * link can route without decoding the payload. The inner frame is never re-encoded.
 *
 * @example
 * const wire = sealEnvelope(hubA.signer, { origin: "a.example", forwardedAt: now, hops: 1, frame });
 * const { envelope, inner } = openEnvelope(wire, pinnedKeyOfA, { maxHops: 3 });
 */
import { concatBytes } from "./bytes.js";
import { checkKey, type DeviceSigner, ed25519Verify } from "./ed25519.js";
import { ProtocolError } from "./errors.js";
import { type DecodeOptions, encodeFrame, Frame } from "./frame.js";
import { Flag, Opcode } from "./opcodes.js";
import { decodePayload, encodePayload } from "./payloads/codec.js";
import type { FedEnvelopePayload } from "./payloads/schemas.js";
import { verifyFrame } from "./signing.js";

const encoder = new TextEncoder();
const POSITION_DOMAIN = encoder.encode("kalandra/fed-position/v1");
const LINK_DOMAIN = encoder.encode("kalandra/fed-link/v1");
const RELAY_DOMAIN = encoder.encode("kalandra/fed-relay/v1");

function u64(v: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v);
  return out;
}

/** A length-prefixed text field, so two fields can never run into each other. */
function field(s: string): Uint8Array {
  const b = encoder.encode(s);
  return concatBytes(u64(BigInt(b.length)), b);
}

/**
 * What an authority signs to bind a sequenced frame's position under its key (DESIGN §3,
 * §11): a domain tag, the room's term, then the whole stamped frame (its header carries
 * room_id, log_index and hlc_timestamp). A replica keeps the signature to prove what the
 * authority ordered, whoever forwarded the frame.
 */
export function positionView(term: bigint, frameBytes: Uint8Array): Uint8Array {
  return concatBytes(POSITION_DOMAIN, u64(term), frameBytes);
}

/** The authority's 64-byte position signature over {@link positionView}. */
export function signPosition(
  signer: DeviceSigner,
  term: bigint,
  frameBytes: Uint8Array,
): Uint8Array {
  return signer.sign(positionView(term, frameBytes));
}

/** True when `signature` is the authority key's position signature for (term, frame). */
export function verifyPosition(
  authorityKey: Uint8Array,
  term: bigint,
  frameBytes: Uint8Array,
  signature: Uint8Array,
): boolean {
  checkKey("authorityKey", authorityKey);
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  return ed25519Verify(authorityKey, positionView(term, frameBytes), signature);
}

/** The two signatures of a hub link handshake: the acceptor's, then the dialer's. */
export type LinkProofKind = "challenge" | "proof";

/**
 * The bytes one side of a hub link signs: both domains, both pinned keys and both nonces,
 * tagged with which side signs, so a signature is never valid for the other direction, another
 * pair of hubs or another handshake.
 */
export function linkTranscript(
  kind: LinkProofKind,
  t: {
    dialer: string;
    acceptor: string;
    dialerKey: Uint8Array;
    acceptorKey: Uint8Array;
    dialerNonce: Uint8Array;
    acceptorNonce: Uint8Array;
  },
): Uint8Array {
  checkKey("dialerKey", t.dialerKey);
  checkKey("acceptorKey", t.acceptorKey);
  for (const [n, v] of [
    ["dialerNonce", t.dialerNonce],
    ["acceptorNonce", t.acceptorNonce],
  ] as const) {
    if (!(v instanceof Uint8Array) || v.length !== 32) {
      throw new TypeError(`"${n}" expected Uint8Array of length 32`);
    }
  }
  return concatBytes(
    LINK_DOMAIN,
    field(kind),
    field(t.dialer),
    field(t.acceptor),
    t.dialerKey,
    t.acceptorKey,
    t.dialerNonce,
    t.acceptorNonce,
  );
}

/** The fields of an envelope, as the forwarding hub gives them. */
export interface EnvelopeInput {
  /** Domain of the hub the inner frame comes from (its user's home, or the authority). */
  origin: string;
  /** Forwarding hub's clock, ms. */
  forwardedAt: bigint;
  /** 1 on the first link; each further forwarding adds one. */
  hops: number;
  /** The inner frame's wire bytes, untouched. */
  frame: Uint8Array;
  userId?: string;
  deviceKey?: Uint8Array;
  term?: bigint;
  positionSig?: Uint8Array;
  to?: readonly bigint[];
  members?: readonly bigint[];
  roomState?: Uint8Array;
  /** (term, first log_index of the term) of the authority's log, with a catch-up page. */
  termStarts?: readonly (readonly [bigint, bigint])[];
  /**
   * The hub the envelope is for when it travels through a relay (onward relay): the origin
   * then signs {@link relayView} (`origin_sig`), so `signer` must be the origin's key.
   */
  dest?: string;
}

/**
 * What the origin hub signs for an envelope a relay carries (`origin_sig`): a domain tag and
 * the envelope's payload as the origin sealed it (hops 1, no `origin_sig`; strict CBOR, so
 * the destination re-encodes the same bytes from what it decoded). It covers the inner frame,
 * the destination and every field the origin vouches for (user, device key, term, position).
 */
export function relayView(e: FedEnvelopePayload): Uint8Array {
  const { origin_sig: _sig, ...sealed } = e;
  return concatBytes(RELAY_DOMAIN, encodePayload(Opcode.FED_ENVELOPE, { ...sealed, hops: 1 }));
}

/** True when `e.origin_sig` is the origin key's signature over {@link relayView}. */
export function verifyRelayed(originKey: Uint8Array, e: FedEnvelopePayload): boolean {
  checkKey("originKey", originKey);
  if (e.origin_sig === undefined || e.dest === undefined) return false;
  return ed25519Verify(originKey, relayView(e), e.origin_sig);
}

/** The FED_ENVELOPE hub frame around `payload.frame`, its header mirroring the inner one. */
function sealPayload(signer: DeviceSigner, payload: FedEnvelopePayload): Uint8Array {
  const inner = Frame.fromWire(payload.frame).header;
  return encodeFrame(
    {
      flags: Flag.FEDERATED,
      opcode: Opcode.FED_ENVELOPE,
      requestId: inner.requestId,
      roomId: inner.roomId,
      senderId: 0n,
      logIndex: inner.logIndex,
      hlcTimestamp: inner.hlcTimestamp,
      epoch: inner.epoch,
      payload: encodePayload(Opcode.FED_ENVELOPE, payload),
    },
    signer,
  );
}

/**
 * A relay's copy of an opened envelope for the next hop: every field as the origin sealed
 * it (inner frame, origin, time, `dest`, `origin_sig`), one hop more, signed by `signer`
 * (the forwarding hub) as the link to the next hop requires.
 */
export function forwardEnvelope(signer: DeviceSigner, e: FedEnvelopePayload): Uint8Array {
  return sealPayload(signer, { ...e, hops: e.hops + 1 });
}

/** Builds and signs a FED_ENVELOPE frame around `e.frame` (which must be a whole frame). */
export function sealEnvelope(signer: DeviceSigner, e: EnvelopeInput): Uint8Array {
  const payload: FedEnvelopePayload = {
    origin: e.origin,
    forwarded_at: e.forwardedAt,
    hops: e.hops,
    frame: e.frame,
  };
  if (e.userId !== undefined) payload.user_id = e.userId;
  if (e.deviceKey !== undefined) payload.device_key = e.deviceKey;
  if (e.term !== undefined) payload.term = e.term;
  if (e.positionSig !== undefined) payload.position_sig = e.positionSig;
  if (e.to !== undefined) payload.to = [...e.to];
  if (e.members !== undefined) payload.members = [...e.members];
  if (e.roomState !== undefined) payload.room_state = e.roomState;
  if (e.termStarts !== undefined) {
    payload.term_starts = e.termStarts.map(([term, start]) => ({ term, start }));
  }
  if (e.dest !== undefined) {
    payload.dest = e.dest;
    payload.origin_sig = signer.sign(relayView(payload));
  }
  return sealPayload(signer, payload);
}

/** An opened envelope: its checked payload and the inner frame (a view into it). */
export interface OpenedEnvelope {
  readonly envelope: FedEnvelopePayload;
  readonly inner: Frame;
}

/**
 * Decodes and checks an envelope from the peer whose pinned key is `peerKey`, in this order:
 * the frame (ProtocolError of the frame decoder), a FED_ENVELOPE from sender 0 with the
 * FEDERATED flag (BAD_PAYLOAD), the hub signature (BAD_HUB_SIGNATURE), the payload
 * (BAD_PAYLOAD), the hop count (TOO_MANY_HOPS when above `maxHops` or 0), the inner frame,
 * and the header agreeing with it (BAD_PAYLOAD). One failure channel: ProtocolError.
 */
export function openEnvelope(
  bytes: Uint8Array,
  peerKey: Uint8Array,
  opts: DecodeOptions & { maxHops: number },
): OpenedEnvelope {
  const outer = Frame.fromWire(bytes, opts.maxPayload === undefined ? undefined : opts);
  const h = outer.header;
  if (h.opcode !== Opcode.FED_ENVELOPE || h.senderId !== 0n || h.flags !== Flag.FEDERATED) {
    throw new ProtocolError("BAD_PAYLOAD", "expected a FED_ENVELOPE hub frame");
  }
  if (!verifyFrame(outer, peerKey)) {
    throw new ProtocolError("BAD_HUB_SIGNATURE", "envelope signature does not verify");
  }
  const envelope = decodePayload(Opcode.FED_ENVELOPE, outer.payload);
  if (envelope.hops < 1 || envelope.hops > opts.maxHops) {
    throw new ProtocolError(
      "TOO_MANY_HOPS",
      `hop count ${envelope.hops} outside 1..${opts.maxHops}`,
    );
  }
  // A relayed envelope names its destination and carries its origin's signature.
  if ((envelope.dest === undefined) !== (envelope.origin_sig === undefined)) {
    throw new ProtocolError("BAD_PAYLOAD", "dest and origin_sig go together");
  }
  if (envelope.hops > 1 && envelope.dest === undefined) {
    throw new ProtocolError("BAD_PAYLOAD", "a relayed envelope without dest and origin_sig");
  }
  const inner = Frame.fromWire(envelope.frame, opts.maxPayload === undefined ? undefined : opts);
  const ih = inner.header;
  if (
    ih.roomId !== h.roomId ||
    ih.logIndex !== h.logIndex ||
    ih.hlcTimestamp !== h.hlcTimestamp ||
    ih.epoch !== h.epoch ||
    ih.requestId !== h.requestId
  ) {
    throw new ProtocolError("BAD_PAYLOAD", "envelope header disagrees with its inner frame");
  }
  if (ih.opcode === Opcode.FED_ENVELOPE) {
    throw new ProtocolError("BAD_PAYLOAD", "an envelope inside an envelope");
  }
  return { envelope, inner };
}
