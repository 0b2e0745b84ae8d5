/** Hub core paths beyond the sequencer rules: ephemeral relays, refused opcodes, failures. */
import { decodePayload, encodeFrame, encodePayload, Flag, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import type { AppendEntry } from "../../src/storage/types.js";
import { hubRemove } from "../mls/mlsClients.js";
import { appMessage, roomWith } from "../sequencer/room.js";
import { answerTo, deliveredTo, errorName, frameOf, makeEnv, send } from "./harness.js";

/** A storage whose disk "fails" on demand (append rejects), to see the sequencer stop. */
class FailingStorage extends MemoryStorage {
  failing = false;
  override async append(entries: readonly AppendEntry[]): Promise<void> {
    if (this.failing) throw new Error("disk full");
    return super.append(entries);
  }
}

describe("hub core", () => {
  it("relays PRESENCE and TYPING to the other members without storing them", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const [alice, bob] = members;
    const before = env.storage.nextIndex(roomId);
    await env.hub.handleFrame(
      bob!.sessionId,
      bob!.senderId,
      frameOf(bob!, Opcode.TYPING, roomId, 1n, { typing: true }),
    );
    await env.hub.shards.drain();
    expect(deliveredTo(env, alice!.senderId, Opcode.TYPING)).toHaveLength(1);
    expect(deliveredTo(env, bob!.senderId, Opcode.TYPING)).toHaveLength(0);
    expect(env.storage.nextIndex(roomId)).toBe(before);
    env.hub.detachSession(bob!.sessionId);
    expect(errorName(await send(env, bob!, appMessage(bob!, roomId, 1n)))).toBe("UNAUTHENTICATED");
  });

  it("refuses opcodes that are not hub requests and frames flagged as responses", async () => {
    const { env, members, roomId } = await roomWith(["alice"]);
    const alice = members[0]!;
    const kick = frameOf(alice, Opcode.AUTHORITY_VOTE, roomId, 0n, {
      term: 1n,
      proposal: new Uint8Array(32),
      voter: "alice.example",
      approve: true,
      log_index: 0n,
    });
    expect(errorName(await send(env, alice, kick))).toBe("FORBIDDEN");
    const flagged = encodeFrame(
      {
        flags: Flag.RESPONSE,
        opcode: Opcode.APP_MESSAGE,
        requestId: 55,
        roomId,
        senderId: alice.senderId,
        epoch: 0n,
        payload: encodePayload(Opcode.APP_MESSAGE, {
          generation: 0,
          ciphertext: new Uint8Array(1),
        }),
      },
      alice.signer,
    );
    expect(errorName(await send(env, alice, flagged))).toBe("FORBIDDEN");
    // A well-signed frame whose payload is not the schema: BAD_PAYLOAD, nothing stored.
    const bad = encodeFrame(
      {
        opcode: Opcode.SYNC_REQUEST,
        requestId: 56,
        roomId,
        senderId: alice.senderId,
        epoch: 0n,
        payload: new Uint8Array([0xa1, 0x61, 0x78, 0x01]),
      },
      alice.signer,
    );
    expect(errorName(await send(env, alice, bad))).toBe("BAD_PAYLOAD");
  });

  it("refuses hub removals for unknown rooms and for another leaf than the proposal's", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const removal = await hubRemove(env.cs, env.hubMls, members[0]!.state!, 1);
    const unknown = await env.hub.proposeRemoval(999n, 1, removal.bytes);
    expect(unknown.ok ? "" : unknown.refusal.code).toBe("UNKNOWN_ROOM");
    const wrong = await env.hub.proposeRemoval(roomId, 0, removal.bytes);
    expect(wrong.ok ? "" : wrong.refusal.code).toBe("INVALID_PROPOSAL");
    const garbage = await env.hub.proposeRemoval(roomId, 1, new Uint8Array([1]));
    expect(garbage.ok ? "" : garbage.refusal.code).toBe("INVALID_PROPOSAL");
  });

  it("sequences hub notices (REDACTION) and fans them out to every member", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const r = await env.hub.sequenceNotice(roomId, Opcode.REDACTION, { log_index: 1n });
    expect(r).toEqual({ ok: true, logIndex: 2n });
    for (const m of members) {
      const got = deliveredTo(env, m.senderId, Opcode.REDACTION);
      expect(got).toHaveLength(1);
      expect(got[0]!.header.senderId).toBe(0n);
      expect(got[0]!.header.has(Flag.EXTERNAL)).toBe(true);
      expect(decodePayload(Opcode.REDACTION, got[0]!.payload).log_index).toBe(1n);
    }
    const none = await env.hub.sequenceNotice(999n, Opcode.REDACTION, { log_index: 0n });
    expect(none.ok ? "" : none.refusal.code).toBe("UNKNOWN_ROOM");
  });

  it("answers INTERNAL when storage fails and accepts nothing more in that room", async () => {
    const storage = new FailingStorage();
    const env = await makeEnv({ storage });
    const { members, roomId } = await roomWith(["alice", "bob"], { env });
    const bob = members[1]!;
    storage.failing = true;
    expect(errorName(await send(env, bob, appMessage(bob, roomId, 1n)))).toBe("INTERNAL");
    storage.failing = false;
    expect(errorName(await send(env, bob, appMessage(bob, roomId, 1n)))).toBe("INTERNAL");
    // Nothing half-written: the log still ends where it did.
    expect(storage.nextIndex(roomId)).toBe(2n);
  });

  it("serves GROUP_INFO to a joiner that is not a member yet", async () => {
    const { env, roomId } = await roomWith(["alice", "bob"]);
    const { makeClient } = await import("./harness.js");
    const dave = await makeClient(env, "dave");
    const a = await send(env, dave, frameOf(dave, Opcode.GROUP_INFO_FETCH, roomId, 0n, {}));
    expect(decodePayload(Opcode.GROUP_INFO, a.frame.payload).epoch).toBe(1n);
    expect(answerTo(env, dave, a.frame.header.requestId)?.frame.header.epoch).toBe(1n);
    expect(
      errorName(
        await send(
          env,
          dave,
          frameOf(dave, Opcode.SYNC_REQUEST, roomId, 0n, { from: 0n, limit: 5 }),
        ),
      ),
    ).toBe("NOT_MEMBER");
  });
});
