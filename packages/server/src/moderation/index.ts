/**
 * Moderation (issue 8, DESIGN §6): kick, ban, redaction, retention, the user index and the
 * operators' admin API, all without reading content (docs/moderation.md).
 */

export { RefusalLimiter } from "../audit/refusals.js";
export {
  AdminApi,
  type AdminApiOptions,
  type AdminRequest,
  type AdminResponse,
  tokenMatches,
} from "./adminApi.js";
export { addedUserOf, type Ban, BanList, type BanScope } from "./bans.js";
export { type InBandOptions, inBandModeration } from "./inBand.js";
export { buildExternalRemove, kickUser, RemovalError } from "./removal.js";
export {
  isActive,
  NO_RETENTION,
  planSweep,
  RetentionPolicies,
  type RetentionPolicy,
} from "./retention.js";
export {
  type KickReport,
  loadModerationState,
  type ModeratedHub,
  Moderation,
  type ModerationDeps,
  type SweepReport,
} from "./service.js";
export { shardModeration } from "./shardModeration.js";
