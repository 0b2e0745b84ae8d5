/**
 * In-band moderation answers survive a hub restart (hub/moderationAnswers.ts): a client
 * that retries an accepted REDACT or KICK with the same request id after the hub restarted
 * from its LMDB directory gets the first ACK, and nothing is carried out again (no second
 * erasure, notice or audit record). Before they were stored, the retried REDACT was
 * answered NOT_FOUND and the retried KICK NOT_MEMBER.
 */
import { decodePayload, FrameHeader, Opcode } from "@kalandra/proto";
import { decodeMlsMessage } from "ts-mls";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_HUB_LIMITS } from "../../src/hub/hubCore.js";
import { inBandModeration } from "../../src/moderation/inBand.js";
import { shardModeration } from "../../src/moderation/shardModeration.js";
import { publicGroupViews } from "../../src/sequencer/publicGroupViews.js";
import { InProcessShards } from "../../src/shards/inProcess.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { type Client, deliveredTo, type Env, frameOf, send, sendCommit } from "../hub/harness.js";
import { commit, process } from "../mls/mlsClients.js";
import { roomWith } from "../sequencer/room.js";
import { seededRng, tempDir } from "../storage/helpers.js";
import { type ModEnv, moderatedEnv, reopen } from "./support.js";

const dirs: { cleanup(): void }[] = [];
afterAll(() => {
  for (const d of dirs) d.cleanup();
});

const open = (path: string) => openLmdbStorage({ path, rng: seededRng("answers-restart") });

/** A hub over a fresh LMDB directory with the users in one room, alice its moderator. */
async function setup(users: string[]) {
  const d = tempDir("answers-restart");
  dirs.push(d);
  const limits = { commitDelayMs: 100, commitDeadlineMs: 1000 };
  const env = await moderatedEnv({ storage: await open(d.path), limits });
  const { members, roomId } = await roomWith(users, { env });
  const [alice, bob] = members as [Client, Client];
  moderate(env);
  return { env, roomId, alice, bob, members, path: d.path };
}

function moderate(env: ModEnv): void {
  env.hub.setModeration(
    inBandModeration(env.moderation, { moderators: () => ["alice"], clock: env.time }),
  );
}

/** Stops the hub, closes its storage and starts it again from the same directory. */
async function restart(env: ModEnv, path: string, sessions: readonly Client[]): Promise<void> {
  await env.hub.close();
  await env.storage.close();
  env.storage = await open(path);
  await reopen(env);
  moderate(env);
  for (const c of sessions) env.hub.attachSession(c.sessionId, c.signer.publicKey, c.name);
}

const audited = (env: ModEnv, kind: string) =>
  env.storage.readAudit().filter((a) => a.kind === kind).length;

describe("in-band moderation answers across a restart", () => {
  it("a REDACT retried after a restart gets the first ACK; the entry stays erased, audited once", async () => {
    const { env, roomId, alice, bob, members, path } = await setup(["alice", "bob"]);
    const sent = await send(
      env,
      bob,
      frameOf(bob, Opcode.APP_MESSAGE, roomId, 1n, {
        generation: 0,
        ciphertext: new TextEncoder().encode("oops"),
      }),
    );
    const target = sent.frame.header.logIndex;
    const redact = frameOf(alice, Opcode.REDACT, roomId, 1n, { log_index: target, reason: "x" });
    const first = await send(env, alice, redact);
    expect(first.opcode).toBe(Opcode.ACK);
    expect(audited(env, "redact")).toBe(1);

    await restart(env, path, members);
    expect(env.storage.readRange(roomId, target, 1)[0]?.payload).toBeNull();
    // The answer was lost with the connection: the client sends the same frame again.
    const again = await send(env, alice, redact);
    expect(again.error?.name).toBeUndefined();
    expect(again.bytes).toEqual(first.bytes);
    expect(env.storage.readRange(roomId, target, 1)[0]?.payload).toBeNull();
    expect(audited(env, "redact")).toBe(1);
    const notices = deliveredTo(env, bob.senderId, Opcode.REDACTION).map(
      (f) => decodePayload(Opcode.REDACTION, f.payload).log_index,
    );
    expect(notices).toEqual([target]);
    await env.hub.close();
    await env.storage.close();
  });

  it("a KICK retried after its removal was committed and the hub restarted gets the first ACK, not NOT_MEMBER", async () => {
    const { env, roomId, alice, members, path } = await setup(["alice", "bob", "carol"]);
    const kick = frameOf(alice, Opcode.KICK, roomId, 1n, { user_id: "carol", reason: "spam" });
    const first = await send(env, alice, kick);
    expect(first.opcode).toBe(Opcode.ACK);
    expect(audited(env, "kick")).toBe(1);
    // Alice commits the hub's Remove proposal: carol is out of the group and the room.
    let st = alice.state!;
    for (const p of deliveredTo(env, alice.senderId, Opcode.PROPOSAL)) {
      const msg = decodeMlsMessage(decodePayload(Opcode.PROPOSAL, p.payload).message, 0)![0];
      st = await process(env.cs, st, msg);
    }
    const c = await commit(env.cs, st);
    expect((await sendCommit(env, alice, roomId, 1n, c)).opcode).toBe(Opcode.ACK);

    await restart(env, path, members);
    const again = await send(env, alice, kick);
    expect(again.error?.name).toBeUndefined();
    expect(again.bytes).toEqual(first.bytes);
    expect(audited(env, "kick")).toBe(1);
    // Carried out again (a new request id), the kick finds its member gone.
    const anew = frameOf(alice, Opcode.KICK, roomId, 2n, { user_id: "carol", reason: "spam" });
    expect((await send(env, alice, anew)).error?.name).toBe("NOT_MEMBER");
    await env.hub.close();
    await env.storage.close();
  });
  it("with rooms on shards of their own storage (as worker shards), the answer is kept in the hub's", async () => {
    const hubDir = tempDir("answers-restart-hub");
    const shardDir = tempDir("answers-restart-shard");
    dirs.push(hubDir, shardDir);
    let shardStorage = await open(shardDir.path);
    const shards = (env: Env) =>
      new InProcessShards(
        1,
        {
          storage: shardStorage,
          clock: env.time,
          timers: env.time,
          hubSigner: env.hubSigner,
          sink: env.sink,
          groups: publicGroupViews(env.hubSigner.publicKey),
          limits: DEFAULT_HUB_LIMITS,
        },
        DEFAULT_HUB_LIMITS.maxBatch,
        shardModeration,
        true,
      );
    const env = await moderatedEnv({ storage: await open(hubDir.path), shards });
    const { members, roomId } = await roomWith(["alice", "bob"], { env });
    const [alice, bob] = members as [Client, Client];
    moderate(env);
    const msg = frameOf(bob, Opcode.APP_MESSAGE, roomId, 1n, {
      generation: 0,
      ciphertext: new TextEncoder().encode("oops"),
    });
    const target = (await send(env, bob, msg)).frame.header.logIndex;
    const redact = frameOf(alice, Opcode.REDACT, roomId, 1n, { log_index: target, reason: "x" });
    const first = await send(env, alice, redact);
    expect(first.opcode).toBe(Opcode.ACK);

    await env.hub.close();
    await shardStorage.close();
    shardStorage = await open(shardDir.path);
    await restart(env, hubDir.path, members);
    const again = await send(env, alice, redact);
    expect(again.error?.name).toBeUndefined();
    expect(again.bytes).toEqual(first.bytes);
    expect(shardStorage.readRange(roomId, target, 1)[0]?.payload).toBeNull();
    expect(audited(env, "redact")).toBe(1);
    // The hub thread's storage holds the answer; the shard's does not.
    const requestId = FrameHeader.view(redact).requestId;
    expect(env.storage.getModerationAnswer(alice.senderId, requestId)).toEqual(first.bytes);
    expect(shardStorage.getModerationAnswer(alice.senderId, requestId)).toBeUndefined();
    await env.hub.close();
    await env.storage.close();
    await shardStorage.close();
  });
});
