/**
 * `pnpm bench mls`: MLS costs at 100 and 1000 members (BENCH_QUICK: 20 and 50) with
 * ts-mls's default provider (the baseline, WebCrypto) and Kalandra's node:crypto
 * provider, both in the same process (issue 5, docs/performance.md).
 *
 * Per size and provider the group is built once (one commit adding everyone, as
 * PublicMessage with the ratchet tree in the Welcome, as Kalandra sends them). Then:
 * - key_package_ms: generating one KeyPackage;
 * - join_welcome_ms: a new member joining from that Welcome (ratchet tree included);
 * - create_commit_ms: the creator (leaf 0) making an empty commit with an update path;
 * - process_commit_ms: the last leaf processing that commit (a path secret to decrypt,
 *   the whole path to re-derive, tree hashes and parent hashes to check).
 * Figures are medians. The last line is one JSON object.
 */
import { performance } from "node:perf_hooks";
import {
  acceptAll,
  type CiphersuiteImpl,
  type ClientState,
  createCommit,
  createGroup,
  defaultCryptoProvider,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  type KeyPackage,
  type PrivateKeyPackage,
  processMessage,
  type Welcome,
} from "ts-mls";
import { getKalandraCiphersuiteImpl } from "../../packages/client/src/crypto/index.js";

const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const quick = process.env.BENCH_QUICK === "1";
const sizes = (process.env.BENCH_MLS_SIZES ?? (quick ? "20,50" : "100,1000"))
  .split(",")
  .map(Number);
const commitRounds = quick ? 3 : Number(process.env.BENCH_MLS_ROUNDS ?? 5);
const joinRounds = quick ? 2 : 3;
const kpRounds = quick ? 5 : 30;

const enc = new TextEncoder();
const capabilities = {
  versions: ["mls10" as const],
  ciphersuites: [SUITE as typeof SUITE],
  extensions: [],
  proposals: [],
  credentials: ["basic" as const],
};

interface Member {
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
}

function kp(name: string, cs: CiphersuiteImpl): Promise<Member> {
  return generateKeyPackage(
    { credentialType: "basic", identity: enc.encode(name) },
    capabilities,
    defaultLifetime,
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

async function time<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await f();
  return [r, performance.now() - t0];
}

interface Figures {
  key_package_ms: number;
  add_all_commit_ms: number;
  join_welcome_ms: number;
  create_commit_ms: number;
  process_commit_ms: number;
}

async function measure(members: number, cs: CiphersuiteImpl, pool: Member[]): Promise<Figures> {
  const kpTimes: number[] = [];
  for (let i = 0; i < kpRounds; i++) kpTimes.push((await time(() => kp(`kp${i}`, cs)))[1]);

  // Joiners' key packages come from a shared pool (made once, with the fast provider:
  // key packages are provider-independent bytes) so building the group stays quick.
  const creator = await kp("creator", cs);
  const joiners = pool.slice(0, members - 1);
  let alice: ClientState = await createGroup(
    enc.encode(`bench-${members}`),
    creator.publicPackage,
    creator.privatePackage,
    [],
    cs,
  );
  const [added, addMs] = await time(() =>
    createCommit(
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
      joinGroup(welcome, last.publicPackage, last.privatePackage, emptyPskIndex, cs),
    );
    joinTimes.push(ms);
    bob = st;
  }
  if (bob === undefined) throw new Error("no join");

  const createTimes: number[] = [];
  const processTimes: number[] = [];
  for (let i = 0; i < commitRounds; i++) {
    const [c, cms] = await time(() =>
      createCommit({ state: alice, cipherSuite: cs }, { wireAsPublicMessage: true }),
    );
    createTimes.push(cms);
    alice = c.newState;
    if (c.commit.wireformat !== "mls_public_message") throw new Error("expected PublicMessage");
    const msg = c.commit;
    const [r, pms] = await time(() =>
      processMessage(msg, bob as ClientState, emptyPskIndex, acceptAll, cs),
    );
    processTimes.push(pms);
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
  };
}

const ours = getKalandraCiphersuiteImpl();
const theirs = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE), defaultCryptoProvider);
const maxMembers = Math.max(...sizes);
const pool: Member[] = [];
for (let i = 0; i < maxMembers - 1; i++) pool.push(await kp(`member${i}`, ours));

// BENCH_MLS_ONLY=kalandra skips the (slow) baseline, e.g. under --cpu-prof.
const only = process.env.BENCH_MLS_ONLY;
if (only === "kalandra") {
  for (const members of sizes) {
    console.log(
      `members=${members} kalandra  ${JSON.stringify(await measure(members, ours, pool))}`,
    );
  }
  process.exit(0);
}

const out: Array<Record<string, unknown>> = [];
for (const members of sizes) {
  const d = await measure(members, theirs, pool);
  console.log(`members=${members} default   ${JSON.stringify(d)}`);
  const k = await measure(members, ours, pool);
  console.log(`members=${members} kalandra  ${JSON.stringify(k)}`);
  const ratio = (a: number, b: number) => Math.round((a / b) * 10) / 10;
  out.push({
    members,
    default: d,
    kalandra: k,
    speedup_process_commit: ratio(d.process_commit_ms, k.process_commit_ms),
    speedup_create_commit: ratio(d.create_commit_ms, k.create_commit_ms),
    speedup_join_welcome: ratio(d.join_welcome_ms, k.join_welcome_ms),
  });
}
console.log(JSON.stringify({ suite: "mls", quick, sizes: out }));
