/**
 * The Welcome inbox (issue 12, DESIGN §10): every Welcome the sequencer sends to a device is
 * also kept in the hub's main storage until that device acknowledges it (WELCOME_ACK) or
 * it expires (`limits.welcome_ttl_s`), and is delivered again each time the device
 * authenticates, so an invitee that was offline when it was added joins on its next
 * connection. Acknowledgement, not fetching, removes a Welcome: a device that crashes
 * between receiving a Welcome and storing the joined group gets it again.
 *
 * Each device keeps at most `welcomesPerDevice` (`limits.welcome_inbox_per_device`); beyond
 * that its oldest are dropped, so a flood of invitations cannot block new ones (adding a
 * user needs a key-package claim, which is rate-limited per target: hub/claimLimits.ts).
 *
 * Welcomes leave the sequencers through the sink (`capture`): in process or from worker
 * threads alike they pass the hub's main thread, whose storage keeps them.
 *
 * @example
 * const inbox = new WelcomeInbox(storage, clock, DEFAULT_WELCOME_INBOX_LIMITS);
 * const shardSink = inbox.capture(sink);   // the sink the shards emit through
 * for (const w of await inbox.pending(senderId)) deliver(w.frame);
 */
import {
  type Clock,
  FrameHeader,
  HEADER_SIZE,
  Opcode,
  type TimerHandle,
  type Timers,
} from "@kalandra/proto";
import type { Storage, StoredWelcome } from "../storage/types.js";
import type { Sink } from "../vocabulary/target.js";

export interface WelcomeInboxLimits {
  /** Seconds a Welcome waits for its device (`limits.welcome_ttl_s`). */
  welcomeTtlS: number;
  /** Welcomes kept per device; beyond it the oldest are dropped. */
  welcomesPerDevice: number;
}

export const DEFAULT_WELCOME_INBOX_LIMITS: WelcomeInboxLimits = {
  welcomeTtlS: 14 * 24 * 3600,
  welcomesPerDevice: 100,
};

/** Most Welcomes one expiry step erases (one write transaction). */
const EXPIRY_STEP = 1000;

export class WelcomeInbox {
  /** Writes in flight: a device that connects meanwhile still gets what they keep. */
  private readonly writing = new Set<Promise<unknown>>();
  private timer: { timers: Timers; handle: TimerHandle } | undefined;
  /** Welcomes kept, dropped over a device's cap, and lost to a failed write (metrics). */
  readonly counts = { kept: 0, dropped: 0, failed: 0, expired: 0 };

  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    readonly limits: WelcomeInboxLimits = DEFAULT_WELCOME_INBOX_LIMITS,
  ) {}

  /** The sink the shards emit through: a Welcome to a device is kept, then forwarded. */
  capture(sink: Sink): Sink {
    return (target, frame) => {
      if (target.kind === "device" && isWelcomeFrame(frame)) this.keep(target.senderId, frame);
      sink(target, frame);
    };
  }

  /** Keeps a WELCOME frame (as the hub signed it) for one device. */
  keep(senderId: bigint, frame: Uint8Array): void {
    const h = FrameHeader.view(frame);
    const welcome: StoredWelcome = {
      senderId,
      roomId: h.roomId,
      logIndex: h.logIndex,
      epoch: h.epoch,
      frame: new Uint8Array(frame),
      expiresAt: this.nowSeconds() + BigInt(this.limits.welcomeTtlS),
    };
    this.track(
      this.storage.putWelcome(welcome, this.limits.welcomesPerDevice).then(
        (dropped) => {
          this.counts.kept++;
          this.counts.dropped += dropped;
        },
        () => {
          // The live delivery still happens; only the copy for later is lost.
          this.counts.failed++;
        },
      ),
    );
  }

  /** A device's unexpired Welcomes, oldest first, once the writes in flight are done. */
  async pending(senderId: bigint): Promise<StoredWelcome[]> {
    while (this.writing.size > 0) await Promise.allSettled([...this.writing]);
    return this.storage.welcomesFor(senderId, this.nowSeconds());
  }

  /**
   * Sends a device's waiting Welcomes, byte for byte, to `send` while `stillThere()`
   * (the session may go while the inbox is read). A storage already closed sends nothing.
   */
  async deliver(
    senderId: bigint,
    send: (frame: Uint8Array) => void,
    stillThere: () => boolean,
  ): Promise<void> {
    let waiting: StoredWelcome[];
    try {
      waiting = await this.pending(senderId);
    } catch {
      return;
    }
    if (!stillThere()) return;
    for (const w of waiting) send(w.frame);
  }

  /** The device acknowledged the Welcome of (room, log_index): it is not delivered again. */
  async acknowledge(senderId: bigint, roomId: bigint, logIndex: bigint): Promise<boolean> {
    while (this.writing.size > 0) await Promise.allSettled([...this.writing]);
    return this.storage.removeWelcome(senderId, roomId, logIndex);
  }

  /** Erases every expired Welcome, one bounded write at a time; resolves with how many. */
  async expire(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.storage.expireWelcomes(this.nowSeconds(), EXPIRY_STEP);
      total += n;
      if (n < EXPIRY_STEP) break;
    }
    this.counts.expired += total;
    return total;
  }

  /** Runs `expire` every `intervalMs` on the injected timers (kalandrad does; the simulation need not). */
  start(timers: Timers, intervalMs: number): void {
    this.stop();
    const arm = (): void => {
      const handle = timers.set(intervalMs, () => {
        void this.expire()
          .catch(() => undefined)
          .finally(() => {
            if (this.timer?.handle === handle) arm();
          });
      });
      this.timer = { timers, handle };
    };
    arm();
  }

  stop(): void {
    this.timer?.timers.clear(this.timer.handle);
    this.timer = undefined;
  }

  private track(p: Promise<unknown>): void {
    this.writing.add(p);
    void p.finally(() => this.writing.delete(p));
  }

  private nowSeconds(): bigint {
    return this.clock.now() / 1000n;
  }
}

function isWelcomeFrame(frame: Uint8Array): boolean {
  return frame.length >= HEADER_SIZE && FrameHeader.view(frame).opcode === Opcode.WELCOME;
}
