/**
 * The client measurements that run unchanged in Node and in a browser (`pnpm bench client`
 * and `pnpm bench browser`): only the client's own modules, ts-mls and the global
 * `performance`, so esbuild can bundle this file for Chromium (the `browser` condition
 * picks the client's web crypto platform) and Node runs it as it is (node:crypto).
 */
import type { Rng } from "@kalandra/proto";
import {
  acceptAll,
  type CiphersuiteImpl,
  type ClientState,
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  joinGroup,
  processMessage,
  type Welcome,
} from "ts-mls";
import { getKalandraCiphersuiteImpl } from "../../packages/client/src/crypto/index.js";
import { createEnvelope, encodeEnvelope } from "../../packages/client/src/envelope/index.js";
import { exportNotificationKeys } from "../../packages/client/src/notify/export.js";
import { NotificationDecryptor } from "../../packages/client/src/notify/index.js";
import { EpochSenderKeys } from "../../packages/client/src/senderkeys/index.js";
import { capabilities, type Member } from "./_mlsFixtures.js";

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const enc = new TextEncoder();
export const ROOM = 0x1234_5678_9abc_def0_1234_5678_9abc_def0n;

/** What every measurement shares: one epoch's exporter secret and one message. */
export interface BenchInputs {
  exporterSecret: Uint8Array;
  /** A padded envelope of a ~60-character text message (128 bytes). */
  plaintext: Uint8Array;
}

export function benchInputs(rng: Rng): BenchInputs {
  const clock = { now: () => 1_700_000_000_000n };
  const envelope = createEnvelope({ t: "text", body: "x".repeat(60) }, { clock, rng });
  return { exporterSecret: rng.bytes(32), plaintext: encodeEnvelope(envelope) };
}

/** One member's sender keys of an epoch with `members` senders. */
export function epochKeys(
  inputs: BenchInputs,
  ownLeaf: number,
  members: number,
  epoch = 1n,
): EpochSenderKeys {
  return new EpochSenderKeys({
    roomId: ROOM,
    epoch,
    exporterSecret: inputs.exporterSecret,
    ownLeaf,
    senders: Array.from({ length: members }, (_, i) => i),
  });
}

/** The notification blob of a 100-member room, and one push decrypted with it. */
export function notify(inputs: BenchInputs): Record<string, number> {
  const phone = epochKeys(inputs, 7, 100);
  const previous = epochKeys(inputs, 7, 100, 0n);
  const blob = exportNotificationKeys([phone]);
  const blob2 = exportNotificationKeys([phone, previous]);
  const sender = epochKeys(inputs, 42, 100);
  const msgs = Array.from({ length: 200 }, () => sender.seal(inputs.plaintext));
  const dec = NotificationDecryptor.fromBlob(blob);
  const t0 = performance.now();
  for (const m of msgs) dec.decrypt({ roomId: ROOM, epoch: 1n, senderLeaf: 42, ...m });
  return {
    notify_blob_bytes_100: blob.length,
    notify_blob_bytes_100_two_epochs: blob2.length,
    notify_decrypt_us: round(((performance.now() - t0) * 1000) / msgs.length),
  };
}

export const keyPackage = (name: string, cs: CiphersuiteImpl): Promise<Member> =>
  generateKeyPackage(
    { credentialType: "basic", identity: enc.encode(name) },
    capabilities,
    defaultLifetime,
    [],
    cs,
  );

/** A group of a creator and `joiners`, and the state of the last joiner. */
async function group(
  cs: CiphersuiteImpl,
  joiners: Member[],
): Promise<{ creator: ClientState; last: ClientState }> {
  const creator = await keyPackage("creator", cs);
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
 * MLS PrivateMessage vs the bridge, interleaved: each round times a batch of ts-mls
 * messages each way, then a batch of bridge messages, so both see the same machine load
 * (the machines are shared). Batches because browsers coarsen `performance.now()` (to
 * 100 µs in a page that is not cross-origin isolated): per-operation figures are each
 * batch's mean, and the result is the median over the rounds.
 */
export async function headToHead(
  cs: CiphersuiteImpl,
  inputs: BenchInputs,
  mlsMessages: number,
): Promise<Record<string, number>> {
  let { creator: alice, last: bob } = await group(cs, [await keyPackage("bob", cs)]);
  const sender = epochKeys(inputs, 0, 2, 7n);
  const receiver = epochKeys(inputs, 1, 2, 7n);
  const mlsBatch = 10;
  const bridgeBatch = 200;
  const mlsEnc: number[] = [];
  const mlsDec: number[] = [];
  const encrypt: number[] = [];
  const decrypt: number[] = [];
  for (let round = 0; round < Math.max(1, mlsMessages / mlsBatch); round++) {
    let t0 = performance.now();
    const sent = [];
    for (let i = 0; i < mlsBatch; i++) {
      const m = await createApplicationMessage(alice, inputs.plaintext, cs);
      alice = m.newState;
      sent.push(m.privateMessage);
    }
    mlsEnc.push((performance.now() - t0) / mlsBatch);
    t0 = performance.now();
    for (const privateMessage of sent) {
      const r = await processMessage(
        { wireformat: "mls_private_message", privateMessage },
        bob,
        emptyPskIndex,
        acceptAll,
        cs,
      );
      if (r.kind !== "applicationMessage") throw new Error("expected an application message");
      bob = r.newState;
    }
    mlsDec.push((performance.now() - t0) / mlsBatch);
    t0 = performance.now();
    const sealed = [];
    for (let i = 0; i < bridgeBatch; i++) sealed.push(sender.seal(inputs.plaintext));
    encrypt.push((performance.now() - t0) / bridgeBatch);
    t0 = performance.now();
    for (const s of sealed) receiver.open(0, s.generation, s.ciphertext);
    decrypt.push((performance.now() - t0) / bridgeBatch);
  }
  return {
    mls_encrypt_us: round(median(mlsEnc) * 1000, 1),
    mls_decrypt_us: round(median(mlsDec) * 1000, 1),
    encrypt_us: round(median(encrypt) * 1000),
    decrypt_us: round(median(decrypt) * 1000),
  };
}

/** Median ms to process an empty commit (with path) in a group of `pool.length + 1`. */
export async function commitProcess(
  cs: CiphersuiteImpl,
  pool: Member[],
  rounds: number,
): Promise<number> {
  let { creator: alice, last: bob } = await group(cs, pool);
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
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

/** The figures `pnpm bench browser` puts side by side, on this runtime's Kalandra provider. */
export interface RuntimeFigures {
  encrypt_us: number;
  decrypt_us: number;
  mls_encrypt_us: number;
  mls_decrypt_us: number;
  commit_process_ms: number;
  commit_group_members: number;
  notify_decrypt_us: number;
}

export async function measureRuntime(quick: boolean, rng: Rng): Promise<RuntimeFigures> {
  const inputs = benchInputs(rng);
  const cs = getKalandraCiphersuiteImpl(rng);
  const members = quick ? 20 : 100;
  const h = await headToHead(cs, inputs, quick ? 40 : 200);
  const pool: Member[] = [];
  for (let i = 0; i < members - 1; i++) pool.push(await keyPackage(`member${i}`, cs));
  const commit = await commitProcess(cs, pool, quick ? 2 : 5);
  return {
    encrypt_us: h.encrypt_us as number,
    decrypt_us: h.decrypt_us as number,
    mls_encrypt_us: h.mls_encrypt_us as number,
    mls_decrypt_us: h.mls_decrypt_us as number,
    commit_process_ms: commit,
    commit_group_members: members,
    notify_decrypt_us: notify(inputs).notify_decrypt_us as number,
  };
}
