/**
 * Cost of the hub validating one commit in an N-member room (issue 3,
 * `commit_validate_ms_1000_members`; goal ≤ 45 ms at 1000). Not a suite itself (underscore):
 * `pnpm bench sequencer` imports `measureCommitValidate`.
 *
 * The room is built as Kalandra clients build it: one commit adding N-1 key packages, as
 * PublicMessage with the ratchet tree in the GroupInfo. Clients use the node:crypto provider
 * of @kalandra/client to keep the set-up short (ts-mls's default provider takes minutes at
 * 1000 members); the hub side is PublicGroup alone, whatever the clients use.
 *
 * Measured on the hub, each the full `checkCommit` (decode, signature, proposals, UpdatePath
 * with parent hashes, tree hash, GroupInfo agreement including the ratchet tree):
 * - update: a member's empty commit with an UpdatePath (the common "refresh" commit);
 * - remove: a member committing the hub's Remove proposal by reference (a kick).
 * Each is validated `rounds` times after 3 warm-up rounds (the check is pure: same input,
 * same work); the cold first validation is reported apart as `first_ms`.
 */
import { performance } from "node:perf_hooks";
import type { Proposal } from "ts-mls";
import { getKalandraCiphersuiteImpl } from "../../packages/client/src/crypto/index.js";
import { PublicGroup } from "../../packages/server/src/mls/index.js";
import {
  bytes,
  commit,
  createRoom,
  device,
  groupInfoBytes,
  hubKeys,
  hubRemove,
  process as processHandshake,
} from "../../packages/server/test/mls/mlsClients.js";
import { capabilities } from "./_mlsFixtures.js";

const WARMUP = 3;

export interface CommitValidateFigures {
  members: number;
  /** Median over every validation of both kinds of commit. */
  ms_p50: number;
  ms_p99: number;
  update_ms_p50: number;
  remove_ms_p50: number;
  /** The very first validation in the process (cold JIT), an update commit. */
  first_ms: number;
  /** Validating the commit that added the N-1 members (2 signatures per key package). */
  add_all_ms: number;
  /** PublicGroup.fromGroupInfo at N members (every leaf signature, parent hashes). */
  from_group_info_ms: number;
  /** PublicGroup.decode of the persisted view at N members. */
  decode_ms: number;
  setup_ms: number;
  rounds: number;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return Math.round((s[i] ?? Number.NaN) * 100) / 100;
}

function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
}

function mustOk<T extends { ok: boolean }>(r: T, what: string): T & { ok: true } {
  if (!r.ok)
    throw new Error(
      `${what} rejected: ${JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`,
    );
  return r as T & { ok: true };
}

export async function measureCommitValidate(
  members: number,
  rounds = 15,
): Promise<CommitValidateFigures> {
  if (!Number.isInteger(members) || members < 2)
    throw new RangeError('"members" expected an integer ≥ 2');
  const t0 = performance.now();
  const cs = getKalandraCiphersuiteImpl();
  const hub = await hubKeys(cs);
  const creator = await device(cs, "user-0", capabilities);
  const adds: Proposal[] = [];
  for (let i = 1; i < members; i++) {
    const { publicPackage } = await device(cs, `user-${i}`, capabilities);
    adds.push({ proposalType: "add", add: { keyPackage: publicPackage } });
  }
  const state = await createRoom(cs, hub, creator, "bench-room");
  const room0 = PublicGroup.fromGroupInfo(await groupInfoBytes(cs, state), hub.publicKey);
  const addAll = await commit(cs, state, adds);
  const [added, add_all_ms] = timed(() =>
    room0.checkCommit(bytes(addAll.commitMessage), addAll.groupInfo, []),
  );
  const room = mustOk(added, "add-all commit").next;
  const [, from_group_info_ms] = timed(() =>
    PublicGroup.fromGroupInfo(addAll.groupInfo, hub.publicKey),
  );
  const persisted = room.encode();
  const [, decode_ms] = timed(() => PublicGroup.decode(persisted));

  // 1. The creator's empty commit: UpdatePath only.
  const update = await commit(cs, addAll.state);
  const updateCommit = update.commit;
  const updateGi = update.groupInfo;
  // 2. The hub's Remove of the last member, committed by the creator by reference.
  const removal = await hubRemove(cs, hub, addAll.state, members - 1);
  const removalBytes = removal.bytes;
  const ref = mustOk(room.checkProposal(removalBytes), "hub remove").ref;
  const kick = await commit(cs, await processHandshake(cs, addAll.state, removal.message));
  const kickCommit = kick.commit;
  const kickGi = kick.groupInfo;
  const setup_ms = performance.now() - t0;

  // The first validation runs cold (JIT, key objects); a hub validates commits all day.
  const [, first_ms] = timed(() => room.checkCommit(updateCommit, updateGi, []));
  for (let i = 0; i < WARMUP; i++) {
    room.checkCommit(updateCommit, updateGi, []);
    room.checkCommit(kickCommit, kickGi, [ref], [removalBytes]);
  }
  const updateTimes: number[] = [];
  const removeTimes: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const [u, tu] = timed(() => room.checkCommit(updateCommit, updateGi, []));
    mustOk(u, "update commit");
    updateTimes.push(tu);
    const [k, tk] = timed(() => room.checkCommit(kickCommit, kickGi, [ref], [removalBytes]));
    mustOk(k, "remove commit");
    removeTimes.push(tk);
  }
  const all = [...updateTimes, ...removeTimes];
  return {
    members,
    ms_p50: percentile(all, 50),
    ms_p99: percentile(all, 99),
    update_ms_p50: percentile(updateTimes, 50),
    remove_ms_p50: percentile(removeTimes, 50),
    first_ms: Math.round(first_ms * 100) / 100,
    add_all_ms: Math.round(add_all_ms * 100) / 100,
    from_group_info_ms: Math.round(from_group_info_ms * 100) / 100,
    decode_ms: Math.round(decode_ms * 100) / 100,
    setup_ms: Math.round(setup_ms),
    rounds,
  };
}

/** Members for a run: BENCH_QUICK=1 → 30, else 1000 (overridable with BENCH_COMMIT_MEMBERS). */
export function commitValidateMembers(): number {
  const fromEnv = Number(process.env.BENCH_COMMIT_MEMBERS);
  if (Number.isInteger(fromEnv) && fromEnv >= 2) return fromEnv;
  return process.env.BENCH_QUICK === "1" ? 30 : 1000;
}
