/**
 * `pnpm bench client`: the sender-key bridge against MLS PrivateMessage, measured in the
 * same process (issue 4, docs/client.md). Figures:
 * - encrypt_us / decrypt_us: `EpochSenderKeys.seal` / `.open` of one padded 128-byte
 *   envelope plaintext (a ~60-character text message): per-operation median, timed
 *   interleaved with the MLS baseline (headToHead) so both see the same machine load;
 *   encrypt_mean_us / decrypt_mean_us: throughput means over a long in-order run;
 * - envelope_encrypt_us / envelope_decrypt_us: the same including envelope CBOR
 *   encode/decode and padding;
 * - decrypt_reordered_us: opening a batch delivered in reverse (every key but one from
 *   the skipped-key window);
 * - mls_private_message_encrypt_us / _decrypt_us: ts-mls `createApplicationMessage` /
 *   `processMessage` of the same plaintext in a 2-member group, ts-mls default provider
 *   (the baseline); `_kalandra` variants use the node:crypto provider (src/crypto);
 * - bridge_speedup: a message's whole life (seal + open) with MLS PrivateMessage over the
 *   same with the bridge, default provider; bridge_speedup_encrypt / _decrypt per side;
 * - commit_process_ms_100: processing an empty commit (with path) in a 100-member group
 *   (BENCH_QUICK: 20), default provider and Kalandra provider (`_kalandra`);
 * - epoch_keys_setup_us_100: deriving every sender chain of a 100-member epoch;
 * - notify_blob_bytes_100: the notification blob for a 100-member room (one epoch;
 *   `_two_epochs` with the previous one too); notify_decrypt_us: one push decrypted.
 * Goals: encrypt < 5 ms, decrypt < 3 ms, bridge_speedup ≥ 50. Last line: one JSON object.
 */
import { performance } from "node:perf_hooks";
import { seededRng } from "@kalandra/test-support";
import {
  acceptAll,
  type CiphersuiteImpl,
  type ClientState,
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCryptoProvider,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processMessage,
  type Welcome,
} from "ts-mls";
import { getKalandraCiphersuiteImpl } from "../../packages/client/src/crypto/index.js";
import {
  createEnvelope,
  decodeEnvelope,
  encodeEnvelope,
} from "../../packages/client/src/envelope/index.js";
import { exportNotificationKeys } from "../../packages/client/src/notify/export.js";
import { NotificationDecryptor } from "../../packages/client/src/notify/index.js";
import { EpochSenderKeys } from "../../packages/client/src/senderkeys/index.js";
import { capabilities, type Member, SUITE } from "./_mlsFixtures.js";

const quick = process.env.BENCH_QUICK === "1";
const bridgeMessages = quick ? 2_000 : 20_000;
const mlsMessages = quick ? 40 : 200;
const groupSize = quick ? 20 : 100;
const commitRounds = quick ? 2 : 5;
const enc = new TextEncoder();

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
/** Deterministic bytes so every run measures the same keys and messages. */
const rng = seededRng("bench/client");
const clock = { now: () => BigInt(Date.now()) };

// ---- sender-key bridge -------------------------------------------------------------
const ROOM = 0x1234_5678_9abc_def0_1234_5678_9abc_def0n;
const exporterSecret = rng.bytes(32);
function epochKeys(ownLeaf: number, members: number, epoch = 1n): EpochSenderKeys {
  return new EpochSenderKeys({
    roomId: ROOM,
    epoch,
    exporterSecret,
    ownLeaf,
    senders: Array.from({ length: members }, (_, i) => i),
  });
}
const envelope = createEnvelope({ t: "text", body: "x".repeat(60) }, { clock, rng });
const plaintext = encodeEnvelope(envelope);

function bridge(): Record<string, number> {
  const alice = epochKeys(0, 2);
  const bob = epochKeys(1, 2);
  // Warm the JIT on a throw-away epoch so the timed loops measure steady state.
  const warmA = epochKeys(0, 2, 99n);
  const warmB = epochKeys(1, 2, 99n);
  for (let i = 0; i < 1_000; i++) {
    const m = warmA.seal(encodeEnvelope(envelope));
    decodeEnvelope(warmB.open(0, m.generation, m.ciphertext));
  }
  let t0 = performance.now();
  const sealed = [];
  for (let i = 0; i < bridgeMessages; i++) sealed.push(alice.seal(plaintext));
  const encryptUs = ((performance.now() - t0) * 1000) / bridgeMessages;
  t0 = performance.now();
  for (const m of sealed) bob.open(0, m.generation, m.ciphertext);
  const decryptUs = ((performance.now() - t0) * 1000) / bridgeMessages;

  t0 = performance.now();
  const sealedEnv = [];
  for (let i = 0; i < bridgeMessages; i++) sealedEnv.push(alice.seal(encodeEnvelope(envelope)));
  const envEncryptUs = ((performance.now() - t0) * 1000) / bridgeMessages;
  t0 = performance.now();
  for (const m of sealedEnv) decodeEnvelope(bob.open(0, m.generation, m.ciphertext));
  const envDecryptUs = ((performance.now() - t0) * 1000) / bridgeMessages;

  const batch = 500;
  const reversed = Array.from({ length: batch }, () => alice.seal(plaintext)).reverse();
  t0 = performance.now();
  for (const m of reversed) bob.open(0, m.generation, m.ciphertext);
  const reorderedUs = ((performance.now() - t0) * 1000) / batch;

  t0 = performance.now();
  const setupRounds = quick ? 5 : 20;
  for (let i = 0; i < setupRounds; i++) epochKeys(0, 100).destroy();
  const setupUs = ((performance.now() - t0) * 1000) / setupRounds;
  return {
    encrypt_mean_us: round(encryptUs),
    decrypt_mean_us: round(decryptUs),
    envelope_encrypt_us: round(envEncryptUs),
    envelope_decrypt_us: round(envDecryptUs),
    decrypt_reordered_us: round(reorderedUs),
    epoch_keys_setup_us_100: round(setupUs, 0),
  };
}

function notify(): Record<string, number> {
  const phone = epochKeys(7, 100);
  const previous = epochKeys(7, 100, 0n);
  const blob = exportNotificationKeys([phone]);
  const blob2 = exportNotificationKeys([phone, previous]);
  const sender = epochKeys(42, 100);
  const msgs = Array.from({ length: 200 }, () => sender.seal(plaintext));
  const dec = NotificationDecryptor.fromBlob(blob);
  const t0 = performance.now();
  for (const m of msgs) dec.decrypt({ roomId: ROOM, epoch: 1n, senderLeaf: 42, ...m });
  return {
    notify_blob_bytes_100: blob.length,
    notify_blob_bytes_100_two_epochs: blob2.length,
    notify_decrypt_us: round(((performance.now() - t0) * 1000) / msgs.length),
  };
}

// ---- ts-mls baselines ---------------------------------------------------------------
const kp = (name: string, cs: CiphersuiteImpl): Promise<Member> =>
  generateKeyPackage(
    { credentialType: "basic", identity: enc.encode(name) },
    capabilities,
    defaultLifetime,
    [],
    cs,
  );

async function group(
  cs: CiphersuiteImpl,
  joiners: Member[],
): Promise<{ creator: ClientState; last: ClientState }> {
  const creator = await kp("creator", cs);
  let state = await createGroup(
    enc.encode("bench-client"),
    creator.publicPackage,
    creator.privatePackage,
    [],
    cs,
  );
  const added = await createCommit(
    { state, cipherSuite: cs },
    {
      wireAsPublicMessage: true,
      ratchetTreeExtension: true,
      extraProposals: joiners.map((j) => ({
        proposalType: "add" as const,
        add: { keyPackage: j.publicPackage },
      })),
    },
  );
  state = added.newState;
  const last = joiners[joiners.length - 1] as Member;
  const joined = await joinGroup(
    added.welcome as Welcome,
    last.publicPackage,
    last.privatePackage,
    emptyPskIndex,
    cs,
  );
  return { creator: state, last: joined };
}

/**
 * MLS PrivateMessage vs the bridge, interleaved: each round times one ts-mls message
 * each way, then a burst of bridge messages, so both see the same machine load (the
 * machines are shared). Per-operation medians.
 */
async function headToHead(cs: CiphersuiteImpl): Promise<Record<string, number>> {
  let { creator: alice, last: bob } = await group(cs, [await kp("bob", cs)]);
  const sender = epochKeys(0, 2, 7n);
  const receiver = epochKeys(1, 2, 7n);
  const mlsEnc: number[] = [];
  const mlsDec: number[] = [];
  const enc: number[] = [];
  const dec: number[] = [];
  for (let i = 0; i < mlsMessages; i++) {
    let t0 = performance.now();
    const m = await createApplicationMessage(alice, plaintext, cs);
    mlsEnc.push(performance.now() - t0);
    alice = m.newState;
    t0 = performance.now();
    const r = await processMessage(
      { wireformat: "mls_private_message", privateMessage: m.privateMessage },
      bob,
      emptyPskIndex,
      acceptAll,
      cs,
    );
    mlsDec.push(performance.now() - t0);
    if (r.kind !== "applicationMessage") throw new Error("expected an application message");
    bob = r.newState;
    for (let j = 0; j < 20; j++) {
      t0 = performance.now();
      const s = sender.seal(plaintext);
      enc.push(performance.now() - t0);
      t0 = performance.now();
      receiver.open(0, s.generation, s.ciphertext);
      dec.push(performance.now() - t0);
    }
  }
  return {
    mls_encrypt_us: round(median(mlsEnc) * 1000, 1),
    mls_decrypt_us: round(median(mlsDec) * 1000, 1),
    encrypt_us: round(median(enc) * 1000),
    decrypt_us: round(median(dec) * 1000),
  };
}

async function commitProcess(cs: CiphersuiteImpl, pool: Member[]): Promise<number> {
  let { creator: alice, last: bob } = await group(cs, pool.slice(0, groupSize - 1));
  const times: number[] = [];
  for (let i = 0; i < commitRounds; i++) {
    const c = await createCommit({ state: alice, cipherSuite: cs }, { wireAsPublicMessage: true });
    alice = c.newState;
    const commit = c.commit;
    if (commit.wireformat !== "mls_public_message")
      throw new Error("expected a PublicMessage commit");
    const t0 = performance.now();
    const r = await processMessage(commit, bob, emptyPskIndex, acceptAll, cs);
    times.push(performance.now() - t0);
    if (r.kind !== "newState") throw new Error("commit not processed");
    bob = r.newState;
  }
  return round(median(times), 1);
}

const baseline = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE), defaultCryptoProvider);
const kalandra = getKalandraCiphersuiteImpl();

const b = bridge();
console.log(`bridge throughput (means) ${JSON.stringify(b)}`);
const h = await headToHead(baseline);
const hK = await headToHead(kalandra);
console.log(`head to head (medians): default ${JSON.stringify(h)} kalandra ${JSON.stringify(hK)}`);
const mls = { encrypt_us: h.mls_encrypt_us as number, decrypt_us: h.mls_decrypt_us as number };
const mlsK = { encrypt_us: hK.mls_encrypt_us as number, decrypt_us: hK.mls_decrypt_us as number };
const encryptUs = Math.max(h.encrypt_us as number, hK.encrypt_us as number);
const decryptUs = Math.max(h.decrypt_us as number, hK.decrypt_us as number);
const pool: Member[] = [];
for (let i = 0; i < groupSize - 1; i++) pool.push(await kp(`member${i}`, kalandra));
const commitDefault = await commitProcess(baseline, pool);
const commitKalandra = await commitProcess(kalandra, pool);
console.log(
  `commit process (${groupSize} members): default ${commitDefault} ms, kalandra ${commitKalandra} ms`,
);
const n = notify();

const encSpeedup = mls.encrypt_us / (h.encrypt_us as number);
const decSpeedup = mls.decrypt_us / (h.decrypt_us as number);
const roundTrip =
  (mls.encrypt_us + mls.decrypt_us) / ((h.encrypt_us as number) + (h.decrypt_us as number));
console.log(
  JSON.stringify({
    suite: "client",
    quick,
    encrypt_us: encryptUs,
    decrypt_us: decryptUs,
    encrypt_mean_us: b.encrypt_mean_us,
    decrypt_mean_us: b.decrypt_mean_us,
    envelope_encrypt_us: b.envelope_encrypt_us,
    envelope_decrypt_us: b.envelope_decrypt_us,
    decrypt_reordered_us: b.decrypt_reordered_us,
    epoch_keys_setup_us_100: b.epoch_keys_setup_us_100,
    mls_private_message_encrypt_us: mls.encrypt_us,
    mls_private_message_decrypt_us: mls.decrypt_us,
    mls_private_message_encrypt_us_kalandra: mlsK.encrypt_us,
    mls_private_message_decrypt_us_kalandra: mlsK.decrypt_us,
    bridge_speedup: round(roundTrip, 1),
    bridge_speedup_encrypt: round(encSpeedup, 1),
    bridge_speedup_decrypt: round(decSpeedup, 1),
    bridge_speedup_vs_kalandra_provider: round(
      (mlsK.encrypt_us + mlsK.decrypt_us) / ((hK.encrypt_us as number) + (hK.decrypt_us as number)),
      1,
    ),
    commit_process_ms_100: commitDefault,
    commit_process_ms_100_kalandra: commitKalandra,
    commit_group_members: groupSize,
    ...n,
    goals_met: encryptUs < 5000 && decryptUs < 3000 && roundTrip >= 50,
  }),
);
