/**
 * `pnpm bench client`: the sender-key bridge against MLS PrivateMessage, measured in the
 * same process (issue 4, docs/client.md). Figures:
 * - encrypt_us / decrypt_us: `EpochSenderKeys.seal` / `.open` of one padded 128-byte
 *   envelope plaintext (a ~60-character text message): the median over rounds of a
 *   batch's mean, timed interleaved with the MLS baseline (_clientCore.ts headToHead) so
 *   both see the same machine load;
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
import { seededRng } from "@kalandra/test-support";
import { defaultCryptoProvider, getCiphersuiteFromName, getCiphersuiteImpl } from "ts-mls";
import { getKalandraCiphersuiteImpl } from "../../packages/client/src/crypto/index.js";
import {
  createEnvelope,
  decodeEnvelope,
  encodeEnvelope,
} from "../../packages/client/src/envelope/index.js";
import {
  benchInputs,
  commitProcess,
  headToHead,
  keyPackage,
  epochKeys as keysOf,
  notify,
  round,
} from "./_clientCore.js";
import { type Member, SUITE } from "./_mlsFixtures.js";

const quick = process.env.BENCH_QUICK === "1";
const bridgeMessages = quick ? 2_000 : 20_000;
const mlsMessages = quick ? 40 : 200;
const groupSize = quick ? 20 : 100;
const commitRounds = quick ? 2 : 5;

/** Deterministic bytes so every run measures the same keys and messages. */
const rng = seededRng("bench/client");
const clock = { now: () => BigInt(Date.now()) };
const inputs = benchInputs(rng);
const { plaintext } = inputs;
const envelope = createEnvelope({ t: "text", body: "x".repeat(60) }, { clock, rng });
const epochKeys = (ownLeaf: number, members: number, epoch = 1n) =>
  keysOf(inputs, ownLeaf, members, epoch);

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

const baseline = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE), defaultCryptoProvider);
const kalandra = getKalandraCiphersuiteImpl();

const b = bridge();
console.log(`bridge throughput (means) ${JSON.stringify(b)}`);
const h = await headToHead(baseline, inputs, mlsMessages);
const hK = await headToHead(kalandra, inputs, mlsMessages);
console.log(`head to head (medians): default ${JSON.stringify(h)} kalandra ${JSON.stringify(hK)}`);
const mls = { encrypt_us: h.mls_encrypt_us as number, decrypt_us: h.mls_decrypt_us as number };
const mlsK = { encrypt_us: hK.mls_encrypt_us as number, decrypt_us: hK.mls_decrypt_us as number };
const encryptUs = Math.max(h.encrypt_us as number, hK.encrypt_us as number);
const decryptUs = Math.max(h.decrypt_us as number, hK.decrypt_us as number);
const pool: Member[] = [];
for (let i = 0; i < groupSize - 1; i++) pool.push(await keyPackage(`member${i}`, kalandra));
const commitDefault = await commitProcess(baseline, pool, commitRounds);
const commitKalandra = await commitProcess(kalandra, pool, commitRounds);
console.log(
  `commit process (${groupSize} members): default ${commitDefault} ms, kalandra ${commitKalandra} ms`,
);
const n = notify(inputs);

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
