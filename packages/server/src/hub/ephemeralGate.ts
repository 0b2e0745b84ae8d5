/**
 * What the hub relays of PRESENCE and TYPING (DESIGN §3 "ephemeral"; docs/protocol.md
 * "Presence and typing"). Each such frame is copied to every other member of the room, so
 * one sender's frame costs the hub (members − 1) deliveries: a session's ephemeral frames
 * get a rate of their own, well below the general one, and only tiny payloads in their
 * schema are relayed (a frame may otherwise carry up to the 16 MiB payload limit). The
 * membership check is the shard's (shardCore.ts), where the room is.
 *
 * Pure: time comes from the injected clock, so tests drive the rate.
 */
import {
  type Clock,
  decodePayload,
  type Frame,
  isProtocolError,
  type Opcode,
} from "@kalandra/proto";
import { type Refusal, refuse } from "../vocabulary/outcome.js";
import { TokenBucket } from "./tokenBucket.js";

export const EPHEMERAL_LIMITS = {
  /** Largest PRESENCE/TYPING payload relayed: `{status}` with a 64-byte status fits. */
  maxPayloadBytes: 96,
  /** Ephemeral frames one session may send per second, and its burst (a presence per room). */
  ratePerSec: 5,
  burst: 30,
} as const;

/** One session's allowance of ephemeral frames. */
export class EphemeralGate {
  private readonly bucket: TokenBucket;

  constructor(clock: Clock) {
    this.bucket = new TokenBucket(EPHEMERAL_LIMITS.ratePerSec, EPHEMERAL_LIMITS.burst, clock);
  }

  /** Undefined when `frame` may be relayed; otherwise the refusal its sender gets. */
  check(frame: Frame): Refusal | undefined {
    const size = frame.payload.length;
    if (size > EPHEMERAL_LIMITS.maxPayloadBytes) {
      const max = EPHEMERAL_LIMITS.maxPayloadBytes;
      return refuse(
        "PAYLOAD_TOO_LARGE",
        `an ephemeral payload is at most ${max} bytes, not ${size}`,
      );
    }
    try {
      decodePayload(frame.header.opcode as Opcode, frame.payload);
    } catch (e) {
      return refuse("BAD_PAYLOAD", isProtocolError(e) ? e.message : "undecodable payload");
    }
    if (!this.bucket.take()) {
      const { ratePerSec, burst } = EPHEMERAL_LIMITS;
      return refuse("RATE_LIMITED", `presence/typing: ${ratePerSec} per second, burst ${burst}`);
    }
    return undefined;
  }
}
