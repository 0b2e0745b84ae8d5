/**
 * The hub's public view of MLS groups (issue 3): membership, epoch, tree hash and the
 * handshake checks of DESIGN §4, without any group secret.
 */
export { type CheckFailure, MlsViewError, type MlsViewErrorCode } from "./errors.js";
export type { ProposalSummary } from "./proposals.js";
export { type CommitCheck, type Member, type ProposalCheck, PublicGroup } from "./publicGroup.js";
