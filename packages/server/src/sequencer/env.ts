/**
 * What a room sequencer is given instead of reaching for globals (DESIGN §2). One env per
 * shard: its rooms share the storage, the AppendBatcher (group commit) and the sink.
 */
import { type Clock, DEFAULT_MAX_PAYLOAD, type Timers } from "@kalandra/proto";
import type { Storage } from "../storage/types.js";
import {
  type AttachmentLimits,
  DEFAULT_ATTACHMENT_LIMITS,
} from "../vocabulary/attachmentLimits.js";
import type { BanPolicy } from "../vocabulary/bans.js";
import type { Refusal } from "../vocabulary/outcome.js";
import type { Sink } from "../vocabulary/target.js";
import type { AppendBatcher } from "./appendBatcher.js";
import type { CommitSchedulerLimits } from "./commitScheduler.js";
import type { GroupViewFactory } from "./groupView.js";
import type { FrameSigner } from "./wire.js";

export interface SequencerLimits extends CommitSchedulerLimits {
  /** Most frames in one SYNC_PAGE. */
  syncPageLimit: number;
  /**
   * Bytes after which a SYNC_PAGE takes no further entry (it always holds at least one):
   * a small request cannot make the hub build a huge answer.
   */
  syncPageBytes: number;
  /**
   * Largest frame payload (`limits.max_payload_bytes`): sequenced payloads above
   * `maxSequencedPayload(maxPayload)` are refused PAYLOAD_TOO_LARGE, so any one entry fits
   * a SYNC_PAGE within this limit (proto syncPageSize.ts).
   */
  maxPayload: number;
  /**
   * Members of one room (`limits.max_members_per_room`): a commit or external commit whose
   * resulting tree holds more, and more than the room has now, is refused with ROOM_FULL.
   */
  maxMembersPerRoom: number;
  /** `[attachments]`: blob size, quotas, grace and expiry (the shard's blob service). */
  attachments: AttachmentLimits;
}

export const DEFAULT_SEQUENCER_LIMITS: SequencerLimits = {
  commitDelayMs: 100,
  maxProposalsPerEpoch: 64,
  commitDeadlineMs: 2000,
  syncPageLimit: 256,
  syncPageBytes: 1024 * 1024,
  maxPayload: DEFAULT_MAX_PAYLOAD,
  maxMembersPerRoom: 10_000,
  attachments: DEFAULT_ATTACHMENT_LIMITS,
};

export interface SequencerEnv {
  storage: Storage;
  batcher: AppendBatcher;
  clock: Clock;
  timers: Timers;
  hubSigner: FrameSigner;
  sink: Sink;
  groups: GroupViewFactory;
  limits: SequencerLimits;
  /** True while the device has a live session (commit requests go to live members). */
  isLive(senderId: bigint): boolean;
  /** Bans (implemented by moderation/bans.ts): commits adding a banned user are refused. */
  bans?: BanPolicy;
  /**
   * Federation is on (DESIGN §11): this hub's domain. Each sequenced frame of a room with
   * members of other domains is also emitted to a `replicas` target (sequencer/replicaPeers.ts).
   * `writeRefusal` (in-process shards): why nothing may be sequenced in the room now — it
   * is moving to another hub (TRANSFERRING) or another hub has it (NOT_AUTHORITY).
   */
  federation?: { domain: string; writeRefusal?(roomId: bigint): Refusal | undefined };
}
