/**
 * The hub link handshake as two pure state machines (no I/O, no timers: DESIGN §2), one
 * per side, so kalandrad and the simulation run the same code; the runtime moves the bytes
 * and owns the connect timeout.
 *
 *   dialer                                   acceptor
 *   FED_HELLO {domain, to, hub_key, nonce} →          policy: configured? blocked? key pinned?
 *            ← FED_CHALLENGE {domain, hub_key, nonce, sig("challenge")}
 *   checks the pinned key and sig
 *   FED_PROOF {sig("proof")}              →          checks sig
 *            ← FED_LINK_OK {max_hops}
 *
 * Every handshake frame is a hub frame (sender_id 0, FEDERATED) signed by its sender's
 * hub key; the transcript signatures (proto `linkTranscript`) are over the other side's fresh nonce,
 * so each side proves the key pinned for it in `[federation] peers`. Any failure is a typed
 * refusal that ends the link: the acceptor answers it with an (unsigned) ERROR frame, the
 * runtime closes and audits it.
 *
 * @example
 * const d = new DialerHandshake({ self, peer, rng });
 * send(d.hello());
 * const step = d.step(frameFromPeer); // { kind: "send", frame } … { kind: "up", peer }
 */
import {
  bytesEqual,
  type DeviceSigner,
  decodePayload,
  ed25519Verify,
  encodePayload,
  errorFrame,
  Flag,
  type Frame,
  hubFrame,
  isProtocolError,
  linkTranscript,
  Opcode,
  type ProtocolErrorCode,
  type Rng,
  verifyFrame,
} from "@kalandra/proto";
import type { PeerConfig, PeerPolicy } from "../contract.js";

/** This hub as its links present it. */
export interface LinkSelf {
  domain: string;
  /** Signs with the hub key (its `publicKey` is what peers pin). */
  signer: DeviceSigner;
}

/** The opcodes of the handshake: a runtime hands a connection whose first frame is FED_HELLO to an acceptor. */
export const LINK_HANDSHAKE_OPCODES: ReadonlySet<number> = new Set([
  Opcode.FED_HELLO,
  Opcode.FED_CHALLENGE,
  Opcode.FED_PROOF,
  Opcode.FED_LINK_OK,
]);

/** What the runtime does after one handshake frame. */
export type LinkStep =
  /** Send `frame` and wait for the next one. */
  | { kind: "send"; frame: Uint8Array }
  /** Both keys proved: the link is up (send `frame` first when given). */
  | { kind: "up"; peer: PeerConfig; maxHops: number; frame?: Uint8Array }
  /**
   * The link is refused: send `frame` when given, close, audit. `remote`: the other side
   * refused us (its ERROR frame); `peer`: the domain the other side claimed, if any.
   */
  | {
      kind: "refused";
      code: ProtocolErrorCode;
      message: string;
      peer?: string;
      remote: boolean;
      frame?: Uint8Array;
    };

const NONCE_BYTES = 32;

/** The fields of the handshake transcript (proto's `linkTranscript`). */
type TranscriptFields = Parameters<typeof linkTranscript>[1];

function linkFrame<Op extends Opcode>(
  signer: DeviceSigner,
  opcode: Op,
  payload: unknown,
): Uint8Array {
  return hubFrame(signer, opcode, 0n, 0n, encodePayload(opcode, payload as never), Flag.FEDERATED);
}

/** A hub frame's header shape: sent by a hub (sender 0) over a link (FEDERATED). */
function isLinkFrame(frame: Frame): boolean {
  return frame.header.senderId === 0n && (frame.header.flags & Flag.FEDERATED) !== 0;
}

/** The refusal the other side sent (ERROR frames are unsigned: a refusal grants nothing). */
function remoteRefusal(frame: Frame, peer: string): LinkStep {
  let code: ProtocolErrorCode = "INTERNAL";
  let message = "peer refused the link";
  try {
    const e = decodePayload(Opcode.ERROR, frame.payload);
    code = e.name as ProtocolErrorCode;
    message = e.message;
  } catch {
    // an undecodable ERROR still ends the handshake
  }
  return { kind: "refused", code, message, peer, remote: true };
}

function decodeOr<Op extends Opcode>(opcode: Op, frame: Frame) {
  try {
    return decodePayload(opcode, frame.payload);
  } catch (e) {
    return { failed: isProtocolError(e) ? e.message : "bad payload" } as const;
  }
}

type DialerState =
  | { kind: "new" }
  | { kind: "hello"; nonce: Uint8Array }
  | { kind: "proved" }
  | { kind: "up" }
  | { kind: "failed" };

/** The side that opened the connection: it knows which peer it dialed. */
export class DialerHandshake {
  private s: DialerState = { kind: "new" };

  constructor(private readonly o: { self: LinkSelf; peer: PeerConfig; rng: Rng }) {}

  /** The FED_HELLO that opens the link (once). */
  hello(): Uint8Array {
    if (this.s.kind !== "new") throw new Error("hello() already sent");
    const nonce = this.o.rng.bytes(NONCE_BYTES);
    this.s = { kind: "hello", nonce };
    return linkFrame(this.o.self.signer, Opcode.FED_HELLO, {
      domain: this.o.self.domain,
      to: this.o.peer.domain,
      hub_key: this.o.self.signer.publicKey,
      nonce,
    });
  }

  step(frame: Frame): LinkStep {
    const st = this.s;
    const peer = this.o.peer;
    if (frame.header.opcode === Opcode.ERROR) return this.fail(remoteRefusal(frame, peer.domain));
    if (st.kind === "hello" && frame.header.opcode === Opcode.FED_CHALLENGE) {
      return this.onChallenge(frame, st.nonce);
    }
    if (st.kind === "proved" && frame.header.opcode === Opcode.FED_LINK_OK) {
      if (!isLinkFrame(frame) || !verifyFrame(frame, peer.hubKey)) {
        return this.refuse("BAD_HUB_SIGNATURE", "FED_LINK_OK is not signed by the pinned hub key");
      }
      const ok = decodeOr(Opcode.FED_LINK_OK, frame);
      if ("failed" in ok) return this.refuse("BAD_PAYLOAD", ok.failed);
      this.s = { kind: "up" };
      return { kind: "up", peer, maxHops: ok.max_hops };
    }
    return this.refuse(
      "BAD_PAYLOAD",
      `unexpected opcode 0x${frame.header.opcode.toString(16)} in the link handshake`,
    );
  }

  private onChallenge(frame: Frame, dialerNonce: Uint8Array): LinkStep {
    const peer = this.o.peer;
    const c = decodeOr(Opcode.FED_CHALLENGE, frame);
    if ("failed" in c) return this.refuse("BAD_PAYLOAD", c.failed);
    if (c.domain.toLowerCase() !== peer.domain) {
      return this.refuse("PEER_NOT_CONFIGURED", `dialed ${peer.domain}, answered by ${c.domain}`);
    }
    const fields: TranscriptFields = {
      dialer: this.o.self.domain,
      acceptor: peer.domain,
      dialerKey: this.o.self.signer.publicKey,
      acceptorKey: peer.hubKey,
      dialerNonce,
      acceptorNonce: c.nonce,
    };
    if (!bytesEqual(c.hub_key, peer.hubKey)) {
      return this.refuse(
        "HUB_KEY_MISMATCH",
        `${peer.domain} presented a hub key other than the pinned one`,
      );
    }
    if (
      !isLinkFrame(frame) ||
      !verifyFrame(frame, peer.hubKey) ||
      !ed25519Verify(peer.hubKey, linkTranscript("challenge", fields), c.signature)
    ) {
      return this.refuse("BAD_HUB_SIGNATURE", `${peer.domain} did not prove its pinned hub key`);
    }
    this.s = { kind: "proved" };
    const signature = this.o.self.signer.sign(linkTranscript("proof", fields));
    return { kind: "send", frame: linkFrame(this.o.self.signer, Opcode.FED_PROOF, { signature }) };
  }

  private refuse(code: ProtocolErrorCode, message: string): LinkStep {
    return this.fail({ kind: "refused", code, message, peer: this.o.peer.domain, remote: false });
  }

  private fail(step: LinkStep): LinkStep {
    this.s = { kind: "failed" };
    return step;
  }
}

type AcceptorState =
  | { kind: "new" }
  | { kind: "challenged"; peer: PeerConfig; fields: TranscriptFields }
  | { kind: "up" }
  | { kind: "failed" };

/** The side that accepted the connection: it learns who dials from FED_HELLO and checks its policy. */
export class AcceptorHandshake {
  private s: AcceptorState = { kind: "new" };

  constructor(private readonly o: { self: LinkSelf; policy: PeerPolicy; rng: Rng }) {}

  step(frame: Frame): LinkStep {
    const st = this.s;
    const op = frame.header.opcode;
    if (st.kind === "new" && op === Opcode.FED_HELLO) return this.onHello(frame);
    if (st.kind === "challenged" && op === Opcode.FED_PROOF)
      return this.onProof(frame, st.peer, st.fields);
    const peer = st.kind === "challenged" ? st.peer.domain : undefined;
    return this.refuse(
      "BAD_PAYLOAD",
      `unexpected opcode 0x${op.toString(16)} in the link handshake`,
      peer,
    );
  }

  private onHello(frame: Frame): LinkStep {
    const h = decodeOr(Opcode.FED_HELLO, frame);
    if ("failed" in h) return this.refuse("BAD_PAYLOAD", h.failed);
    const domain = h.domain.toLowerCase();
    if (h.to.toLowerCase() !== this.o.self.domain) {
      return this.refuse(
        "PEER_NOT_CONFIGURED",
        `this hub is ${this.o.self.domain}, not ${h.to}`,
        domain,
      );
    }
    const verdict = this.o.policy.admit(domain);
    if (!verdict.ok) return this.refuse(verdict.code, verdict.message, domain);
    const peer: PeerConfig = { domain, hubKey: verdict.hubKey };
    if (!bytesEqual(h.hub_key, peer.hubKey)) {
      return this.refuse(
        "HUB_KEY_MISMATCH",
        `${domain} presented a hub key other than the pinned one`,
        domain,
      );
    }
    if (!isLinkFrame(frame) || !verifyFrame(frame, peer.hubKey)) {
      return this.refuse(
        "BAD_HUB_SIGNATURE",
        "FED_HELLO is not signed by the pinned hub key",
        domain,
      );
    }
    const nonce = this.o.rng.bytes(NONCE_BYTES);
    const fields: TranscriptFields = {
      dialer: domain,
      acceptor: this.o.self.domain,
      dialerKey: peer.hubKey,
      acceptorKey: this.o.self.signer.publicKey,
      dialerNonce: h.nonce.slice(), // a view into the frame's buffer
      acceptorNonce: nonce,
    };
    this.s = { kind: "challenged", peer, fields };
    const signature = this.o.self.signer.sign(linkTranscript("challenge", fields));
    return {
      kind: "send",
      frame: linkFrame(this.o.self.signer, Opcode.FED_CHALLENGE, {
        domain: this.o.self.domain,
        hub_key: this.o.self.signer.publicKey,
        nonce,
        signature,
      }),
    };
  }

  private onProof(frame: Frame, peer: PeerConfig, fields: TranscriptFields): LinkStep {
    const p = decodeOr(Opcode.FED_PROOF, frame);
    if ("failed" in p) return this.refuse("BAD_PAYLOAD", p.failed, peer.domain);
    if (
      !isLinkFrame(frame) ||
      !verifyFrame(frame, peer.hubKey) ||
      !ed25519Verify(peer.hubKey, linkTranscript("proof", fields), p.signature)
    ) {
      return this.refuse(
        "BAD_HUB_SIGNATURE",
        `${peer.domain} did not prove its pinned hub key`,
        peer.domain,
      );
    }
    this.s = { kind: "up" };
    const frameOut = linkFrame(this.o.self.signer, Opcode.FED_LINK_OK, {
      max_hops: this.o.policy.maxHops,
    });
    return { kind: "up", peer, maxHops: this.o.policy.maxHops, frame: frameOut };
  }

  private refuse(code: ProtocolErrorCode, message: string, peer?: string): LinkStep {
    this.s = { kind: "failed" };
    const frame = errorFrame({ requestId: 0, roomId: 0n }, { code, message });
    return {
      kind: "refused",
      code,
      message,
      remote: false,
      frame,
      ...(peer === undefined ? {} : { peer }),
    };
  }
}
