/**
 * @kalandra/server — the hub's cores and runtimes (DESIGN §2, §4–§6, §9): the hub core and
 * its per-room sequencers, LMDB storage with cryptographic erasure, the socket-independent
 * session (auth handshake, limits), and the shard runtimes. The `kalandrad` binary wraps
 * them with real sockets; the simulation harness (@kalandra/harness) drives the same code
 * with a virtual clock, a lossy network and crashes.
 *
 * @example
 * import { HubCore, openLmdbStorage, publicGroupViews } from "@kalandra/server";
 * const storage = await openLmdbStorage({ path: "/var/lib/kalandra" });
 * const hub = await HubCore.open({ storage, clock, rng, timers, hubSigner, sink,
 *   groups: publicGroupViews(hubSigner.publicKey) });
 */

// Federation: a room's authority across hubs (terms, votes, handover, replication).
export * from "./federation/authority/index.js";
// Federation (DESIGN §11): the seams (contract.ts), the core, the peer policy.
export type {
  AuthorityFrame,
  AuthorityHandler,
  AuthorityView,
  FederationInputs,
  FederationSetup,
  PeerAdmission,
  PeerConfig,
  PeerLinks,
  PeerPolicy,
  RoomAuthority,
} from "./federation/contract.js";
export { FederationCore, type LocalHub, type PeerRequester } from "./federation/federationCore.js";
export {
  backoffDelay,
  LinkEndpoint,
  type LinkEndpointDeps,
  type LinkEvent,
} from "./federation/link/index.js";
export { DEFAULT_MAX_HOPS, staticPeerPolicy } from "./federation/peerPolicy.js";
export { HLC_COUNTER_BITS, HybridLogicalClock, hlcParts, hlcStamp } from "./hlc.js";
export {
  DEFAULT_HUB_LIMITS,
  HubCore,
  type HubCoreDeps,
  type HubLimits,
} from "./hub/hubCore.js";
// The one hub composition (HubHost) and the session it serves; the harness runs both.
export {
  type Connection,
  type DeviceLimits,
  type FrameCore,
  type HostLimits,
  type HostObserver,
  HubHost,
  type HubHostOptions,
} from "./hub/hubHost.js";
export { TokenBucket } from "./hub/tokenBucket.js";
// Identity (DESIGN §10): who a device speaks for.
export { Authentication, type AuthenticationOptions } from "./identity/authentication.js";
export type {
  Authenticator,
  AuthRequest,
  AuthVerdict,
} from "./identity/authenticator.js";
// Moderation (DESIGN §6): bans, kicks, retention, the admin API, in-band commands.
export {
  AdminApi,
  type AdminApiOptions,
  type AdminRequest,
  type AdminResponse,
  type Ban,
  BanList,
  type BanScope,
  /** The hub's external Remove proposal (used by the OpenMLS interop suite too). */
  buildExternalRemove,
  type InBandOptions,
  inBandModeration,
  type KickReport,
  loadModerationState,
  type ModeratedHub,
  Moderation,
  type ModerationDeps,
  NO_RETENTION,
  RemovalError,
  RetentionPolicies,
  type RetentionPolicy,
  type SweepReport,
  /** Moderation as the shard cores consume it (handed in by the runtimes). */
  shardModeration,
} from "./moderation/index.js";
export {
  Session,
  type SessionDeps,
  type SessionHub,
  type SessionIo,
  type SessionLimits,
} from "./runtime/node/session.js";
export { type HubKey, hubKeySigner } from "./runtime/node/wire.js";
export type { GroupView, GroupViewFactory } from "./sequencer/groupView.js";
export { publicGroupViews } from "./sequencer/publicGroupViews.js";
export { InProcessShards } from "./shards/inProcess.js";
export type { ShardSet } from "./shards/shardSet.js";
export { StorageError } from "./storage/errors.js";
export {
  type LmdbStorage,
  type LmdbStorageOptions,
  openLmdbStorage,
} from "./storage/lmdb/lmdbStorage.js";
export { MemoryStorage, openMemoryStorage } from "./storage/memoryStorage.js";
export { MODERATION_ANSWER_MAX_BYTES } from "./storage/moderationAnswerBounds.js";
export type {
  AppendEntry,
  AuditRecord,
  AuditVerification,
  BindResult,
  EraseContext,
  IdentityStorage,
  ModerationAnswerStorage,
  RoomMeta,
  RoomTombstone,
  RoomUsage,
  Storage,
  StoredDevice,
  StoredEnrollmentCode,
  StoredFrame,
  StoredKeyPackage,
  StoredWelcome,
} from "./storage/types.js";
export type { BanPolicy } from "./vocabulary/bans.js";
export type { KickedLeaves, Outcome, Refusal } from "./vocabulary/outcome.js";
export type { Sink, Target } from "./vocabulary/target.js";
