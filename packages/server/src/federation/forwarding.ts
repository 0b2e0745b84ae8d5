/**
 * The participating side of requests (DESIGN §11): a local user's request for a room
 * another hub sequences, or a key-package claim for another domain's user, goes to that
 * hub in an envelope naming the user and device; its answer comes back and is delivered,
 * re-signed by this hub, to the session that asked. PEER_UNREACHABLE (with a retry hint)
 * while the link is down.
 */
import { decodePayload, errorFrame, type Frame, Opcode } from "@kalandra/proto";
import { type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import type { Target } from "../vocabulary/target.js";
import { type FederationPorts, ownCopy } from "./ports.js";

/** A request forwarded for a peer's user, as the hub core checks and routes it. */
export interface PeerRequester {
  senderId: bigint;
  deviceKey: Uint8Array;
  userId: string;
}

/** Forwarded requests waiting for their answer, at most this many (oldest dropped). */
export const MAX_PENDING = 65_536;

export interface ForwardingDeps {
  ports: FederationPorts;
  isUp(domain: string): boolean;
  /** A device of `domain` whose key packages `userId`'s home handed out. */
  learnDevice(senderId: bigint, domain: string, userId: string): void;
  retryAfterMs: bigint;
  /** This hub's copy of an answer, when it must differ from a re-signed one (relayFilter.ts). */
  relayAnswer?(inner: Frame): Uint8Array | undefined;
}

export class Forwarding {
  /** `${senderId}:${requestId}` → the local session that sent a forwarded request. */
  private readonly pending = new Map<string, string>();
  /** Same keys, for KP_CLAIMs: the user whose key packages were claimed. */
  private readonly claims = new Map<string, string>();

  constructor(private readonly d: ForwardingDeps) {}

  forward(sessionId: string, frame: Frame, from: PeerRequester, domain: string): Outcome {
    if (!this.d.isUp(domain)) {
      return this.refuse(sessionId, frame, {
        ...refuse("PEER_UNREACHABLE", `no link to ${domain}`),
        retryAfterMs: this.d.retryAfterMs,
      });
    }
    const key = `${from.senderId}:${frame.header.requestId}`;
    this.pending.delete(key);
    this.pending.set(key, sessionId);
    if (frame.header.opcode === Opcode.KP_CLAIM) {
      this.claims.set(key, decodePayload(Opcode.KP_CLAIM, frame.payload).user_id);
    }
    if (this.pending.size > MAX_PENDING) {
      const oldest = this.pending.keys().next().value as string;
      this.pending.delete(oldest);
      this.claims.delete(oldest);
    }
    this.d.ports.send(domain, frame.toWire(), { userId: from.userId, deviceKey: from.deviceKey });
    return { ok: true };
  }

  /** The answer to a request forwarded for local device `sender`. */
  answered(domain: string, inner: Frame, sender: bigint): void {
    const key = `${sender}:${inner.header.requestId}`;
    const claimed = this.claims.get(key);
    this.claims.delete(key);
    if (inner.header.opcode === Opcode.KP_CLAIMED && claimed !== undefined) {
      // The claimed devices live on `domain`, vouched for as `claimed`'s: their Welcomes go
      // there, and their key packages may be added here (identity/leafBinding.ts).
      for (const c of decodePayload(Opcode.KP_CLAIMED, inner.payload).claims) {
        this.d.learnDevice(c.sender_id, domain, claimed);
      }
    }
    const sessionId = this.pending.get(key);
    this.pending.delete(key);
    const target: Target =
      sessionId === undefined
        ? { kind: "device", senderId: sender }
        : { kind: "session", sessionId };
    const signer = this.d.ports.signer;
    this.d.ports.sink(target, this.d.relayAnswer?.(inner) ?? ownCopy(signer, inner));
  }

  /** Answers a local session's request with a refusal. */
  refuse(sessionId: string, frame: Frame, r: Refusal): Outcome {
    this.d.ports.sink({ kind: "session", sessionId }, errorFrame(frame.header, r));
    return { ok: false, refusal: r };
  }
}
