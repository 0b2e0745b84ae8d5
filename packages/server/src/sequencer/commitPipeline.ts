/**
 * The commit pipeline of one room (DESIGN §4, §5): an accepted frame gets the next
 * `log_index` and an HLC stamp, goes to the shard's AppendBatcher with its ACK (also its
 * idempotency record) and the room state it changed, and is acknowledged and fanned out
 * only once its batch is durable. A failed batch stops the room: later frames may depend
 * on the lost one.
 */
import { ackFrame, canary, errorFrame, HEADER_SIZE } from "@kalandra/proto";
import { HybridLogicalClock } from "../hlc.js";
import type { AppendEntry } from "../storage/types.js";
import { type Outcome, refuse } from "../vocabulary/outcome.js";
import type { ReplicaPeer, Target } from "../vocabulary/target.js";
import type { SequencerEnv } from "./env.js";
import { signFrameInPlace } from "./frameSigner.js";
import { Idempotency } from "./idempotency.js";
import { encodeRoomState, type RoomState } from "./roomState.js";
import { type ParsedFrame, stampFrame } from "./wire.js";

/** What an accepted frame does once durable. */
export interface SequenceOptions {
  /** The room state after this frame, stored with it; absent when the frame changed none. */
  state?: RoomState;
  /** Members that get the stamped frame. */
  fanout: readonly bigint[];
  /** Blob ids the frame references (stored with it: AppendEntry.blobRefs). */
  blobRefs?: readonly Uint8Array[];
  /** Runs once the frame is durable, acknowledged and fanned out. */
  after?: (logIndex: bigint, hlc: bigint) => void;
  /** Other hubs of the room (federation): the frame goes to each of them once. */
  replicas?: readonly ReplicaPeer[];
}

export class CommitPipeline {
  private next: bigint;
  private readonly hlc: HybridLogicalClock;
  private readonly idempotency: Idempotency;
  /** Set once a batch of this room failed (DESIGN §5). */
  failed: unknown;

  constructor(
    private readonly env: SequencerEnv,
    private readonly roomId: bigint,
    next: bigint,
    lastHlc: bigint,
  ) {
    this.next = next;
    this.hlc = new HybridLogicalClock(env.clock, lastHlc);
    this.idempotency = new Idempotency(env.storage);
  }

  /** Next log_index to assign (accepted, not necessarily durable yet). */
  get nextIndex(): bigint {
    return this.next;
  }

  /** Frames that did not change room state (app messages) still advanced the clock. */
  observe(hlc: bigint): void {
    this.hlc.observe(hlc);
  }

  /** The first answer to a repeated (sender_id, request_id), if it is one (DESIGN §4). */
  earlier(senderId: bigint, requestId: number): Uint8Array | Promise<Uint8Array> | undefined {
    return this.idempotency.earlier(senderId, requestId);
  }

  /** Stamps and queues one accepted frame; resolves once it is durable or failed. */
  sequence(
    frame: ParsedFrame,
    reply: Target | undefined,
    userId: string | undefined,
    opts: SequenceOptions,
  ): Promise<Outcome> {
    const h = frame.header;
    const logIndex = this.next++;
    const hlc = this.hlc.next();
    // canary: simulation-only planted bug (DESIGN §8), an off-by-one log_index past index 4.
    const off = canary("log_index_off_by_one") && logIndex > 4n ? 1n : 0n;
    const stamped = stampFrame(frame.bytes, logIndex + off, hlc);
    // Built unsigned; signed below, on the thread pool when the signer can (frameSigner.ts).
    const ack = ackFrame(h, logIndex, hlc);
    const entry: AppendEntry = {
      roomId: this.roomId,
      logIndex,
      header: stamped.subarray(0, HEADER_SIZE),
      payload: stamped.subarray(HEADER_SIZE),
      senderId: h.senderId,
      requestId: h.requestId,
      response: ack,
    };
    if (userId !== undefined) entry.userId = userId;
    if (opts.blobRefs !== undefined) entry.blobRefs = opts.blobRefs;
    if (opts.state !== undefined) {
      opts.state.hlc = hlc;
      entry.roomState = encodeRoomState(opts.state);
    }
    const finish = this.idempotency.begin(h.senderId, h.requestId);
    return new Promise((resolve) => {
      const ready = this.env.batcher.addPending(entry, (err) => {
        if (err !== undefined) {
          // Later frames of this room may depend on this one: stop accepting (DESIGN §5).
          this.failed = err;
          const fail = errorFrame(h, refuse("INTERNAL", "storage failed"));
          if (reply !== undefined) this.env.sink(reply, fail);
          finish(fail);
          resolve({ ok: false, refusal: refuse("INTERNAL", String(err)) });
          return;
        }
        if (reply !== undefined) this.env.sink(reply, ack);
        finish(ack);
        if (opts.fanout.length > 0) {
          this.env.sink({ kind: "members", roomId: this.roomId, senderIds: opts.fanout }, stamped);
        }
        if (opts.replicas !== undefined && opts.replicas.length > 0) {
          const peers = opts.replicas;
          const roomState = entry.roomState;
          this.env.sink(
            {
              kind: "replicas",
              roomId: this.roomId,
              logIndex,
              peers,
              ...(roomState === undefined ? {} : { roomState }),
            },
            stamped,
          );
        }
        opts.after?.(logIndex, hlc);
        resolve({ ok: true, logIndex });
      });
      // The batch carrying this frame is written only once its ACK is signed: the ACK is
      // also the frame's idempotency record, stored in the same transaction.
      const signAck = (): void => signFrameInPlace(this.env.hubSigner, ack, ready);
      // The hub's own frames (sender_id 0) are signed over their whole header, position
      // included (DESIGN §3): signed here, after stamping, before anything stores them.
      if (h.senderId === 0n) signFrameInPlace(this.env.hubSigner, stamped, signAck);
      else signAck();
    });
  }
}
