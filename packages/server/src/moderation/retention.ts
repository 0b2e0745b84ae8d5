/**
 * Retention policies (issue 8): per room, a maximum age and a maximum count after which
 * application messages are erased (storage.secureDelete, DESIGN §5) without anyone asking.
 *
 * What is erased: only APP_MESSAGE payloads. Handshake frames (proposals, commits) hold no
 * content the hub cannot read anyway, and members that catch up need them to follow the
 * group's epochs; erasing them would cut members off, not protect anyone.
 *
 * - `maxAgeMs`: a message whose HLC stamp (its sequencing time, hlc.ts) is older than
 *   now − maxAgeMs is erased.
 * - `maxCount`: only the newest `maxCount` application messages keep their content (the
 *   REDACTION notices a sweep adds are not messages, so they never push others out).
 *   Both rules are monotone in log order, so the sweep stops at the first message that
 *   must stay.
 *
 * Policies are audit records (`retention`, detail `{max_age_ms, max_count}`) replayed at
 * start, like bans (bans.ts); 0 means "no limit". A room without its own record follows
 * the hub default from the configuration.
 */
import { FrameHeader, Opcode } from "@kalandra/proto";
import { hlcParts } from "../hlc.js";
import type { AuditRecord, Storage, StoredFrame } from "../storage/types.js";
import type { RetentionPolicy, RoomCursor } from "../vocabulary/retention.js";

export type { RetentionPolicy, RoomCursor } from "../vocabulary/retention.js";

export const NO_RETENTION: RetentionPolicy = { maxAgeMs: 0, maxCount: 0 };

export function isActive(p: RetentionPolicy): boolean {
  return p.maxAgeMs > 0 || p.maxCount > 0;
}

export class RetentionPolicies {
  private readonly rooms = new Map<bigint, RetentionPolicy>();

  constructor(private readonly fallback: RetentionPolicy = NO_RETENTION) {}

  static fromAudit(records: readonly AuditRecord[], fallback?: RetentionPolicy): RetentionPolicies {
    const p = new RetentionPolicies(fallback);
    for (const r of records) p.applyRecord(r);
    return p;
  }

  get default(): RetentionPolicy {
    return this.fallback;
  }

  of(roomId: bigint): RetentionPolicy {
    return this.rooms.get(roomId) ?? this.fallback;
  }

  set(roomId: bigint, policy: RetentionPolicy): void {
    this.rooms.set(roomId, { ...policy });
  }

  /** Rooms with a policy of their own. */
  configured(): bigint[] {
    return [...this.rooms.keys()];
  }

  applyRecord(r: AuditRecord): void {
    if (r.kind !== "retention" || r.roomId === undefined) return;
    const policy = policyOf(r.detail);
    if (policy !== undefined) this.set(r.roomId, policy);
  }
}

/** A policy from `{max_age_ms, max_count}` (non-negative integers); undefined otherwise. */
export function policyOf(d: Record<string, unknown>): RetentionPolicy | undefined {
  const age = toCount(d.max_age_ms);
  const count = toCount(d.max_count);
  if (age === undefined || count === undefined) return undefined;
  return { maxAgeMs: age, maxCount: count };
}

function toCount(v: unknown): number | undefined {
  if (typeof v === "bigint" && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  return undefined;
}

export const FRESH_CURSOR: RoomCursor = { cursor: 0n, scanned: 0n, live: 0 };

export interface SweepPlan {
  /** Application messages to erase now, in log order. */
  erase: bigint[];
  /** The room's cursor once they are erased. */
  next: RoomCursor;
}

const PAGE = 256;

function isLiveApp(f: StoredFrame): boolean {
  return f.payload !== null && FrameHeader.view(f.header).opcode === Opcode.APP_MESSAGE;
}

/**
 * The messages of `roomId` the policy says must go: the oldest live application messages
 * beyond `maxCount`, and those older than `maxAgeMs`. Scans from the cursor and stops at
 * the first message that stays, or after `budget` erasures (the rest waits for the next
 * sweep, so one sweep never holds the hub for long).
 */
export function planSweep(
  storage: Pick<Storage, "readRange" | "nextIndex">,
  roomId: bigint,
  policy: RetentionPolicy,
  nowMs: bigint,
  at: RoomCursor,
  budget: number,
): SweepPlan {
  const next = { ...at };
  const plan: SweepPlan = { erase: [], next };
  const head = storage.nextIndex(roomId);
  // Count what arrived since the last sweep.
  while (next.scanned < head) {
    const frames = storage.readRange(roomId, next.scanned, PAGE);
    if (frames.length === 0) break;
    for (const f of frames) if (isLiveApp(f)) next.live++;
    next.scanned = (frames[frames.length - 1] as StoredFrame).logIndex + 1n;
  }
  if (!isActive(policy)) return plan;
  const ageLimit = policy.maxAgeMs > 0 ? nowMs - BigInt(policy.maxAgeMs) : -1n;
  const overCount = (): boolean => policy.maxCount > 0 && next.live > policy.maxCount;
  while (next.cursor < next.scanned && plan.erase.length < budget) {
    const frames = storage.readRange(roomId, next.cursor, PAGE);
    if (frames.length === 0) break;
    for (const f of frames) {
      if (f.logIndex >= next.scanned) return plan;
      if (isLiveApp(f)) {
        const old = hlcParts(FrameHeader.view(f.header).hlcTimestamp).ms < ageLimit;
        if (!old && !overCount()) return plan;
        if (plan.erase.length >= budget) return plan;
        plan.erase.push(f.logIndex);
        next.live--;
      }
      next.cursor = f.logIndex + 1n;
    }
  }
  return plan;
}
