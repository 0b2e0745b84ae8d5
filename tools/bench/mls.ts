/**
 * `pnpm bench mls`: MLS costs at 100 and 1000 members (BENCH_QUICK: 20 and 50) with
 * ts-mls's default provider (the baseline, WebCrypto) and Kalandra's node:crypto
 * provider, all in the same process (issue 5, docs/performance.md).
 *
 * Three configurations: "default" = ts-mls 1.6.4 as published with its default
 * provider (the baseline; loaded from a reversed copy, see _tsMlsUpstream.ts),
 * "default_patched" = the patched ts-mls with the default provider, "kalandra" = the
 * patched ts-mls with the node:crypto provider (what Kalandra runs).
 *
 * Per size and configuration the group is built once (one commit adding everyone, as
 * PublicMessage with the ratchet tree in the Welcome, as Kalandra sends them). Then:
 * - key_package_ms: generating one KeyPackage;
 * - join_welcome_ms: a new member joining from that Welcome (ratchet tree included);
 * - create_commit_ms: the creator (leaf 0) making an empty commit with an update path;
 * - process_commit_ms: the last leaf processing that commit (a path secret to decrypt,
 *   the whole path to re-derive, tree hashes and parent hashes to check).
 * Figures are medians. The last line is one JSON object.
 */
import { performance } from "node:perf_hooks";
import type { CiphersuiteImpl, ClientState, Welcome } from "ts-mls";
import * as patched from "ts-mls";
import { getKalandraCiphersuiteImpl } from "../../packages/client/src/crypto/index.js";
import { capabilities, type Member, SUITE } from "./_mlsFixtures.js";
import { loadUpstreamTsMls } from "./_tsMlsUpstream.js";

type TsMls = typeof patched;

const quick = process.env.BENCH_QUICK === "1";
const sizes = (process.env.BENCH_MLS_SIZES ?? (quick ? "20,50" : "100,1000"))
  .split(",")
  .map(Number);
const commitRounds = quick ? 3 : Number(process.env.BENCH_MLS_ROUNDS ?? 5);
const joinRounds = quick ? 2 : 3;
const kpRounds = quick ? 5 : 30;

const enc = new TextEncoder();

function kp(name: string, cs: CiphersuiteImpl, mls: TsMls = patched): Promise<Member> {
  return mls.generateKeyPackage(
    { credentialType: "basic", identity: enc.encode(name) },
    capabilities,
    mls.defaultLifetime,
    [],
    cs,
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const v = s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  return Math.round(v * 100) / 100;
}

async function time<T>(f: () => Promise<T>): Promise<[T, number, number]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  // CPU time of the whole process (WebCrypto's thread pool included), in ms: on a shared
  // machine it moves less than wall time when other processes compete for the cores.
  return [r, wall, (c.user + c.system) / 1000];
}

interface Figures {
  key_package_ms: number;
  add_all_commit_ms: number;
  join_welcome_ms: number;
  create_commit_ms: number;
  process_commit_ms: number;
  create_commit_cpu_ms: number;
  process_commit_cpu_ms: number;
}

async function measure(
  members: number,
  mls: TsMls,
  cs: CiphersuiteImpl,
  pool: Member[],
): Promise<Figures> {
  const kpTimes: number[] = [];
  for (let i = 0; i < kpRounds; i++) kpTimes.push((await time(() => kp(`kp${i}`, cs, mls)))[1]);

  // Joiners' key packages come from a shared pool (made once, with the fast provider:
  // key packages are provider-independent bytes) so building the group stays quick.
  const creator = await kp("creator", cs, mls);
  const joiners = pool.slice(0, members - 1);
  let alice: ClientState = await mls.createGroup(
    enc.encode(`bench-${members}`),
    creator.publicPackage,
    creator.privatePackage,
    [],
    cs,
  );
  const [added, addMs] = await time(() =>
    mls.createCommit(
      { state: alice, cipherSuite: cs },
      {
        wireAsPublicMessage: true,
        ratchetTreeExtension: true,
        extraProposals: joiners.map((j) => ({
          proposalType: "add" as const,
          add: { keyPackage: j.publicPackage },
        })),
      },
    ),
  );
  alice = added.newState;
  const welcome = added.welcome as Welcome;
  const last = joiners[joiners.length - 1]!;
  const joinTimes: number[] = [];
  let bob: ClientState | undefined;
  for (let i = 0; i < joinRounds; i++) {
    const [st, ms] = await time(() =>
      mls.joinGroup(welcome, last.publicPackage, last.privatePackage, mls.emptyPskIndex, cs),
    );
    joinTimes.push(ms);
    bob = st;
  }
  if (bob === undefined) throw new Error("no join");

  const createTimes: number[] = [];
  const processTimes: number[] = [];
  const createCpu: number[] = [];
  const processCpu: number[] = [];
  for (let i = 0; i < commitRounds; i++) {
    const [c, cms, ccpu] = await time(() =>
      mls.createCommit({ state: alice, cipherSuite: cs }, { wireAsPublicMessage: true }),
    );
    createTimes.push(cms);
    createCpu.push(ccpu);
    alice = c.newState;
    if (c.commit.wireformat !== "mls_public_message") throw new Error("expected PublicMessage");
    const msg = c.commit;
    const [r, pms, pcpu] = await time(() =>
      mls.processMessage(msg, bob as ClientState, mls.emptyPskIndex, mls.acceptAll, cs),
    );
    processTimes.push(pms);
    processCpu.push(pcpu);
    if (r.kind !== "newState") throw new Error("commit not processed");
    bob = r.newState;
  }
  if (bob.groupContext.epoch !== alice.groupContext.epoch) throw new Error("epochs diverge");
  return {
    key_package_ms: median(kpTimes),
    add_all_commit_ms: Math.round(addMs),
    join_welcome_ms: median(joinTimes),
    create_commit_ms: median(createTimes),
    process_commit_ms: median(processTimes),
    create_commit_cpu_ms: median(createCpu),
    process_commit_cpu_ms: median(processCpu),
  };
}

const suite = patched.getCiphersuiteFromName(SUITE);
const ours = getKalandraCiphersuiteImpl();
const maxMembers = Math.max(...sizes);
const pool: Member[] = [];
for (let i = 0; i < maxMembers - 1; i++) pool.push(await kp(`member${i}`, ours));

// BENCH_MLS_ONLY=kalandra skips the (slow) baselines, e.g. under --cpu-prof.
if (process.env.BENCH_MLS_ONLY === "kalandra") {
  for (const members of sizes) {
    const k = await measure(members, patched, ours, pool);
    console.log(`members=${members} kalandra  ${JSON.stringify(k)}`);
  }
  process.exit(0);
}

// Baseline: ts-mls as published with its default (WebCrypto) provider. For attribution,
// also the default provider on the patched ts-mls (docs/performance.md).
const upstream = await loadUpstreamTsMls();
const theirs = await upstream.getCiphersuiteImpl(suite, upstream.defaultCryptoProvider);
const theirsPatched = await patched.getCiphersuiteImpl(suite, patched.defaultCryptoProvider);

// Warm every configuration up (JIT, key caches of the code paths) on a small group first.
for (const [mls, cs] of [
  [upstream, theirs],
  [patched, theirsPatched],
  [patched, ours],
] as const) {
  await measure(8, mls, cs, pool);
}

const out: Array<Record<string, unknown>> = [];
for (const members of sizes) {
  const d = await measure(members, upstream, theirs, pool);
  console.log(`members=${members} default          ${JSON.stringify(d)}`);
  const dp = await measure(members, patched, theirsPatched, pool);
  console.log(`members=${members} default_patched  ${JSON.stringify(dp)}`);
  const k = await measure(members, patched, ours, pool);
  console.log(`members=${members} kalandra         ${JSON.stringify(k)}`);
  const ratio = (a: number, b: number) => Math.round((a / b) * 10) / 10;
  out.push({
    members,
    default: d,
    default_patched: dp,
    kalandra: k,
    speedup_process_commit: ratio(d.process_commit_ms, k.process_commit_ms),
    speedup_process_commit_cpu: ratio(d.process_commit_cpu_ms, k.process_commit_cpu_ms),
    speedup_create_commit: ratio(d.create_commit_ms, k.create_commit_ms),
    speedup_join_welcome: ratio(d.join_welcome_ms, k.join_welcome_ms),
    speedup_key_package: ratio(d.key_package_ms, k.key_package_ms),
  });
}
console.log(JSON.stringify({ suite: "mls", quick, sizes: out }));
