/**
 * The hub-wide room limits through the real hub core (no mocks): `max_members_per_room`
 * counted from the room's MLS tree, whatever the commit carries and across restarts, and
 * `max_rooms` from the rooms that exist (and are being created).
 */
import { Opcode } from "@kalandra/proto";
import { encodeMlsMessage } from "ts-mls";
import { describe, expect, it } from "vitest";
import { commit, createRoom, externalJoin, groupInfoBytes } from "../mls/mlsClients.js";
import { appMessage, ROOM, roomWith } from "../sequencer/room.js";
import {
  type Answer,
  type Client,
  type Env,
  frameOf,
  makeClient,
  openHub,
  send,
} from "./harness.js";

/** The env's hub reopened over its storage with these limits (a restart: nothing in memory). */
async function restartWith(env: Env, maxMembersPerRoom: number, maxRooms = 100) {
  await env.hub.close();
  env.limits = { ...env.limits, maxMembersPerRoom, maxRooms };
  await openHub(env);
  return {
    send: (c: Client, bytes: Uint8Array) => send(env, c, bytes),
    attach(c: Client) {
      env.hub.attachSession(c.sessionId, c.signer.publicKey, c.name);
    },
  };
}

/** `by` adds `joiners` in one commit; `recipients` false leaves welcome_recipients out. */
async function add(
  hub: Awaited<ReturnType<typeof restartWith>>,
  env: Env,
  by: Client,
  roomId: bigint,
  epoch: bigint,
  joiners: Client[],
  recipients = true,
): Promise<Answer> {
  const c = await commit(
    env.cs,
    by.state!,
    joiners.map((j) => ({
      proposalType: "add" as const,
      add: { keyPackage: j.device.publicPackage },
    })),
  );
  const a = await hub.send(
    by,
    frameOf(by, Opcode.COMMIT, roomId, epoch, {
      commit: c.commit,
      group_info: c.groupInfo,
      welcome: encodeMlsMessage(c.welcome!),
      ...(recipients ? { welcome_recipients: joiners.map((j) => j.senderId) } : {}),
    }),
  );
  if (a.opcode === Opcode.ACK) by.state = c.state;
  return a;
}

describe("max_members_per_room", () => {
  it("admits exactly max members, counting the sender (no off-by-one)", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const hub = await restartWith(env, 3);
    const [alice] = members;
    for (const m of members) hub.attach(m);
    // A message fans out to the others (N−1 of them): the count must not come from there.
    expect((await hub.send(alice!, appMessage(alice!, roomId, 1n))).opcode).toBe(Opcode.ACK);
    const carol = await makeClient(env, "carol");
    const dave = await makeClient(env, "dave");
    const full = await add(hub, env, alice!, roomId, 1n, [carol, dave]);
    expect(full.error?.name).toBe("ROOM_FULL");
    expect((await add(hub, env, alice!, roomId, 1n, [carol])).opcode).toBe(Opcode.ACK);
    expect((await add(hub, env, alice!, roomId, 2n, [dave])).error?.name).toBe("ROOM_FULL");
    // SIGHUP raises the limit: every shard applies it to its rooms at once.
    env.hub.reconfigure({ maxRooms: 100, maxMembersPerRoom: 4 });
    expect((await add(hub, env, alice!, roomId, 2n, [dave])).opcode).toBe(Opcode.ACK);
  });

  it("knows the room's size right after a restart, before any fan-out", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const hub = await restartWith(env, 2);
    for (const m of members) hub.attach(m);
    const carol = await makeClient(env, "carol");
    expect((await add(hub, env, members[0]!, roomId, 1n, [carol])).error?.name).toBe("ROOM_FULL");
  });

  it("counts the commit's Adds, with or without welcome_recipients", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const hub = await restartWith(env, 2);
    for (const m of members) hub.attach(m);
    expect((await hub.send(members[1]!, appMessage(members[1]!, roomId, 1n))).opcode).toBe(
      Opcode.ACK,
    );
    const carol = await makeClient(env, "carol");
    const a = await add(hub, env, members[0]!, roomId, 1n, [carol], false);
    expect(a.error?.name).toBe("ROOM_FULL");
  });

  it("refuses an external commit that would grow a full room", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const hub = await restartWith(env, 2);
    for (const m of members) hub.attach(m);
    expect((await hub.send(members[1]!, appMessage(members[1]!, roomId, 1n))).opcode).toBe(
      Opcode.ACK,
    );
    const carol = await makeClient(env, "carol", false);
    hub.attach(carol);
    const j = await externalJoin(env.cs, carol.device, members[0]!.state!);
    const a = await hub.send(
      carol,
      frameOf(carol, Opcode.EXTERNAL_COMMIT, roomId, 1n, {
        commit: j.commit,
        group_info: j.groupInfo,
      }),
    );
    expect(a.error?.name).toBe("ROOM_FULL");
  });
});

describe("max_rooms", () => {
  it("counts rooms being created, so concurrent creations cannot pass the limit", async () => {
    const { env, members } = await roomWith(["alice"]);
    const hub = await restartWith(env, 10, 2);
    const alice = members[0]!;
    hub.attach(alice);
    const frames = [];
    for (const roomId of [ROOM + 1n, ROOM + 2n]) {
      const state = await createRoom(env.cs, env.hubMls, alice.device, roomId);
      frames.push(
        frameOf(alice, Opcode.ROOM_CREATE, roomId, 0n, {
          group_info: await groupInfoBytes(env.cs, state),
        }),
      );
    }
    const answers = await Promise.all(frames.map((f) => hub.send(alice, f)));
    expect(answers.map((a) => a.error?.name ?? "ACK").sort()).toEqual(["ACK", "TOO_MANY_ROOMS"]);
  });
});

describe("max_members_per_room at creation (issue 12)", () => {
  it("refuses a ROOM_CREATE whose GroupInfo already holds more members than the limit", async () => {
    const { env, members } = await roomWith(["alice", "bob", "carol"]);
    const hub = await restartWith(env, 2);
    for (const m of members) hub.attach(m);
    const alice = members[0]!;
    const crowded = await groupInfoBytes(env.cs, alice.state!); // three members
    const a = await hub.send(
      alice,
      frameOf(alice, Opcode.ROOM_CREATE, ROOM + 9n, 0n, { group_info: crowded }),
    );
    expect(a.error?.name).toBe("ROOM_FULL");
    expect(env.hub.roomCount).toBe(1);
  });
});
