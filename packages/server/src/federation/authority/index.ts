/** A room's authority across hubs (DESIGN §11): terms, votes, certificates, the engine. */
export { type AuthorityStore, MemoryAuthorityStore } from "./authorityStore.js";
export {
  type AuthorityMessage,
  decodeAuthorityMessage,
  encodeAuthorityMessage,
  type LogEntry,
  signEntry,
  verifyEntry,
} from "./messages.js";
export {
  type AckQuorum,
  RoomAuthorityEngine,
  type RoomAuthorityEngineOptions,
  type SubmitResult,
} from "./roomAuthority.js";
export {
  type HandoverCertificate,
  type HubKeys,
  majority,
  type Proposal,
  proposalHash,
  StatementFormatError,
  type TransferKind,
  type Vote,
  verifyCertificate,
} from "./statement.js";
export {
  adoptCertificate,
  decideVote,
  decodeTermRecord,
  encodeTermRecord,
  initialRecord,
  type TermRecord,
  type VoteRefusal,
} from "./termState.js";
