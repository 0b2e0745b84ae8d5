/**
 * `pnpm bench scaleCommit [--quick]`: one commit at 10,000 members (quick: 200), validated by
 * the hub and processed by a member, on a saved state (_scaleRoomsState.ts), so the two
 * figures of `pnpm bench scale` section `rooms` that have goals (`hub_validate_commit_ms`
 * < 45, `process_commit_ms` < 100) can be measured and profiled in seconds once the state
 * exists (`node --cpu-prof --import tsx tools/bench/scaleCommit.ts`).
 *
 * CPU time (process.cpuUsage) is the figure: the machine is shared. Same-run baseline for
 * the hub: the same check on a view decoded from its stored form (PublicGroup.decode), which
 * carries nothing from the previous epoch (key index, tree encoding, leaf facts) — the
 * uncached path. `hub_next_members_cpu_ms`: what the sequencer does next with an accepted
 * commit's view (its member list for the room size, a sender lookup for the next frame).
 * BENCH_SCALE_ROOM_MEMBERS overrides the size; BENCH_COMMIT_ROUNDS the repetitions.
 */
import { performance } from "node:perf_hooks";
import type { ClientState } from "ts-mls";
import { processHandshake } from "../../packages/client/src/mls/group.js";
import { PublicGroup } from "../../packages/server/src/mls/index.js";
import { cs, hubSigner, roomMembers } from "./_scaleRoomsFixture.js";
import { roomCommitState, type SavedCommit } from "./_scaleRoomsState.js";

const quick = process.env.BENCH_QUICK === "1";
const ROOM_ID = 15_000n;
const COMMITS = 4;
const log = (s: string) => process.stderr.write(`[scaleCommit] ${s}\n`);

function envInt(name: string, fallback: number, min: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v >= min ? v : fallback;
}

const count = envInt("BENCH_SCALE_ROOM_MEMBERS", quick ? 200 : 10_000, 2);
const batch = quick ? 100 : 1_000;
const rounds = envInt("BENCH_COMMIT_ROUNDS", quick ? 3 : 7, 1);
// For a profile of one side: BENCH_COMMIT_ONLY=hub or member.
const only = process.env.BENCH_COMMIT_ONLY;
const skip = async <T>(
  side: string,
  f: () => Promise<T> | T,
): Promise<[T | undefined, number, number]> =>
  only === undefined || only === side ? cpu(f) : [undefined, Number.NaN, Number.NaN];

async function cpu<T>(f: () => Promise<T> | T): Promise<[T, number, number]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return [r, (c.user + c.system) / 1000, wall];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[s.length >> 1] ?? Number.NaN) * 10) / 10;
}

function accepted(r: ReturnType<PublicGroup["checkCommit"]>): PublicGroup {
  if (!r.ok) throw new Error(`hub refused a saved commit: ${r.code} ${r.message}`);
  return r.next;
}

const t0 = performance.now();
const { members } = await roomMembers(count);
const hub = hubSigner();
const { state, built } = await roomCommitState(ROOM_ID, members, batch, hub, COMMITS, log);
log(
  `${count}-member state ${built ? "built" : "loaded"} in ${Math.round(performance.now() - t0)} ms`,
);

const hubCpu: number[] = [];
const hubWall: number[] = [];
const hubBaseCpu: number[] = [];
// The sequencer's next steps on an accepted commit's view: its member list (room size,
// joins and leaves) and a sender lookup (the next frame's membership check).
const followCpu: number[] = [];
const followBaseCpu: number[] = [];
const followUp = (v: PublicGroup | undefined) => {
  const ms = v?.members() ?? [];
  v?.leafBySenderId(ms[ms.length >> 1]?.senderId ?? 0n);
};
const processCpu: number[] = [];
const processWall: number[] = [];
// Commit 0 only brings the view and the member to the epoch of commit 1: a running hub's
// view carries from the previous epoch what a view loaded from storage has to rebuild.
let prev: PublicGroup = state.hub;
let member: ClientState = await processHandshake(
  state.member,
  state.commits[0]?.commit as Uint8Array,
  cs,
);
for (let i = 1; i < state.commits.length; i++) {
  const before = state.commits[i - 1] as SavedCommit;
  const c = state.commits[i] as SavedCommit;
  let view = accepted(prev.checkCommit(before.commit, before.groupInfo, []));
  await processHandshake(member, c.commit, cs); // warm the member's caches
  const stored = view.encode();
  for (let r = 0; r < rounds; r++) {
    const fresh = PublicGroup.decode(stored);
    const [freshNext, baseCpu] = await skip("hub", () =>
      accepted(fresh.checkCommit(c.commit, c.groupInfo, [])));
    const [, fBaseCpu] = await skip("hub", () => followUp(freshNext));
    view = accepted(prev.checkCommit(before.commit, before.groupInfo, []));
    const [next, hCpu, hWall] = await skip("hub", () =>
      accepted(view.checkCommit(c.commit, c.groupInfo, [])));
    const [, fCpu] = await skip("hub", () => followUp(next));
    const [, pCpu, pWall] = await skip("member", () => processHandshake(member, c.commit, cs));
    hubBaseCpu.push(baseCpu);
    followCpu.push(fCpu);
    followBaseCpu.push(fBaseCpu);
    hubCpu.push(hCpu);
    hubWall.push(hWall);
    processCpu.push(pCpu);
    processWall.push(pWall);
  }
  log(
    `commit ${i}: ${c.commit.length} B; hub CPU ${median(hubCpu.slice(-rounds))} ms (uncached ${median(hubBaseCpu.slice(-rounds))}); process CPU ${median(processCpu.slice(-rounds))} ms`,
  );
  prev = view;
  member = await processHandshake(member, c.commit, cs);
}

console.log(
  JSON.stringify({
    members: count,
    rounds,
    hub_validate_commit_cpu_ms: median(hubCpu),
    hub_validate_commit_ms: median(hubWall),
    hub_validate_commit_uncached_cpu_ms: median(hubBaseCpu),
    hub_next_members_cpu_ms: median(followCpu),
    hub_next_members_uncached_cpu_ms: median(followBaseCpu),
    process_commit_cpu_ms: median(processCpu),
    process_commit_ms: median(processWall),
    quick,
  }),
);
