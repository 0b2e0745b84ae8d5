/**
 * Audit records of refused room access (issue 12): an outsider's GroupInfo fetch or
 * external join (NO_ACCESS), and a member's policy change or removal of others it has no
 * right to (FORBIDDEN). The room's shard decides and answers; the hub core, which owns the
 * audit chain, records the refusal, at most 20 records a minute (audit/refusals.ts) so a
 * flood of refused requests cannot fill the disk with fsynced records.
 */
import { type Clock, Opcode, opcodeName } from "@kalandra/proto";
import { RefusalLimiter } from "../audit/refusals.js";
import type { AuditRecord } from "../storage/types.js";
import type { Outcome } from "../vocabulary/outcome.js";

/** Room requests a shard may refuse for want of a right (the rest skip the audit's await). */
export const ACCESS_OPCODES: ReadonlySet<number> = new Set([
  Opcode.GROUP_INFO_FETCH,
  Opcode.EXTERNAL_COMMIT,
  Opcode.COMMIT,
  Opcode.PROPOSAL,
  Opcode.ROOM_POLICY,
  Opcode.ROOM_POLICY_FETCH,
]);

/** Refusal codes of a room's shard that are rights violations, not mistakes. */
const VIOLATIONS: ReadonlySet<string> = new Set(["NO_ACCESS", "FORBIDDEN"]);

export interface AccessAuditDeps {
  storage: { appendAudit(record: AuditRecord): Promise<void> };
  clock: Clock;
}

export class AccessAudit {
  private readonly refusals: RefusalLimiter;

  constructor(private readonly d: AccessAuditDeps) {
    this.refusals = new RefusalLimiter(d.clock);
  }

  /** Records `outcome` when it refused `userId` access to `roomId`; returns it unchanged. */
  async note(
    outcome: Outcome | undefined,
    request: { opcode: number; roomId: bigint },
    userId: string,
  ): Promise<Outcome | undefined> {
    if (outcome === undefined || outcome.ok || !VIOLATIONS.has(outcome.refusal.code)) {
      return outcome;
    }
    const detail = this.refusals.admit({
      code: outcome.refusal.code,
      opcode: opcodeName(request.opcode) ?? request.opcode,
      reason: outcome.refusal.message,
    });
    if (detail !== undefined) {
      await this.d.storage.appendAudit({
        kind: "access_refused",
        at: this.d.clock.now(),
        roomId: request.roomId,
        actor: `user:${userId}`,
        detail,
      });
    }
    return outcome;
  }
}
