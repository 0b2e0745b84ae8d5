/**
 * Proposal batching (DESIGN §4): pending proposals are committed by a member, not the hub
 * (the hub holds no group secrets, §6). After `commitDelayMs` of pending proposals, or at
 * once when `maxProposalsPerEpoch` are pending, one live member gets a COMMIT_REQUEST;
 * if the epoch has not moved by `commitDeadlineMs`, the next live member is asked.
 * Members are asked in a rotation (ascending sender_id after the last one asked), so
 * the choice is deterministic for the simulation and no member is asked twice in a row
 * while others are live.
 */
import type { TimerHandle, Timers } from "@kalandra/proto";

export interface CommitSchedulerHooks {
  /** Live members that may be asked (connected and not being removed). */
  candidates(): bigint[];
  /** Sends COMMIT_REQUEST{epoch, pending, deadline_ms} to one member. */
  request(senderId: bigint, epoch: bigint, pending: number, deadlineMs: number): void;
}

export interface CommitSchedulerLimits {
  commitDelayMs: number;
  maxProposalsPerEpoch: number;
  commitDeadlineMs: number;
}

export class CommitScheduler {
  private timer: TimerHandle | undefined;
  private epoch = -1n;
  private pending = 0;
  private lastAsked = -1n;
  /** Members asked in the current epoch, in order (tests and metrics read it). */
  readonly asked: bigint[] = [];

  constructor(
    private readonly timers: Timers,
    private readonly limits: CommitSchedulerLimits,
    private readonly hooks: CommitSchedulerHooks,
  ) {}

  /** Called whenever the pending set or the epoch changed. */
  update(epoch: bigint, pending: number): void {
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.asked.length = 0;
      this.cancel();
    }
    this.pending = pending;
    if (pending === 0) {
      this.cancel();
      return;
    }
    if (pending >= this.limits.maxProposalsPerEpoch) {
      // Full batch: ask now unless someone was already asked for this epoch.
      if (this.asked.length === 0) {
        this.cancel();
        this.fire();
      }
      return;
    }
    if (this.timer === undefined && this.asked.length === 0) {
      this.timer = this.timers.set(this.limits.commitDelayMs, () => {
        this.timer = undefined;
        this.fire();
      });
    }
  }

  /** Stops all timers (room closed or shard stopping). */
  cancel(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    if (this.pending === 0) return;
    const live = this.hooks.candidates().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const next = live.find((s) => s > this.lastAsked) ?? live[0];
    if (next !== undefined) {
      this.lastAsked = next;
      this.asked.push(next);
      this.hooks.request(next, this.epoch, this.pending, this.limits.commitDeadlineMs);
    }
    // Re-assign after the deadline if the epoch has not moved (nobody live: retry later).
    const epoch = this.epoch;
    this.timer = this.timers.set(this.limits.commitDeadlineMs, () => {
      this.timer = undefined;
      if (this.epoch === epoch && this.pending > 0) this.fire();
    });
  }
}
