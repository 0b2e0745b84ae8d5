/**
 * Issue 12: one device created 213 rooms/s until the hub-wide `max_rooms` was full and a
 * bystander got TOO_MANY_ROOMS. Rooms are now also counted per creating user
 * (`maxRoomsPerUser`), from storage at open, so the quota holds across restarts.
 */
import { Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { createRoom, groupInfoBytes } from "../mls/mlsClients.js";
import {
  type Client,
  type Env,
  errorName,
  frameOf,
  makeClient,
  makeEnv,
  openHub,
  send,
} from "./harness.js";

let nextRoom = 0x5000n;

async function create(env: Env, c: Client, roomId = nextRoom++) {
  const state = await createRoom(env.cs, env.hubMls, c.device, roomId);
  return send(
    env,
    c,
    frameOf(c, Opcode.ROOM_CREATE, roomId, 0n, {
      group_info: await groupInfoBytes(env.cs, state),
    }),
  );
}

describe("rooms per user", () => {
  it("stops one user at maxRoomsPerUser while another still creates, across a restart", async () => {
    const env = await makeEnv({ limits: { maxRoomsPerUser: 3, maxRooms: 10 } });
    const mallory = await makeClient(env, "mallory");
    const bystander = await makeClient(env, "bystander");
    const first = nextRoom;
    for (let i = 0; i < 3; i++) expect((await create(env, mallory)).opcode).toBe(Opcode.ACK);
    // A failed creation (the room exists) does not use up the quota...
    expect(errorName(await create(env, bystander, first))).toBe("ROOM_EXISTS");
    const refused = await create(env, mallory);
    expect(errorName(refused)).toBe("TOO_MANY_ROOMS");
    expect(env.hub.roomsCreatedBy("mallory")).toBe(3);
    expect((await create(env, bystander)).opcode).toBe(Opcode.ACK);
    expect(env.hub.roomCount).toBe(4);

    // ...and the count comes back from storage after a restart.
    await env.hub.close();
    await openHub(env);
    env.hub.attachSession(mallory.sessionId, mallory.signer.publicKey, mallory.name);
    env.hub.attachSession(bystander.sessionId, bystander.signer.publicKey, bystander.name);
    expect(env.hub.roomsCreatedBy("mallory")).toBe(3);
    expect(errorName(await create(env, mallory))).toBe("TOO_MANY_ROOMS");
    expect((await create(env, bystander)).opcode).toBe(Opcode.ACK);

    // A raised quota (SIGHUP) lets the user create again.
    env.hub.reconfigure({ maxRooms: 10, maxMembersPerRoom: 1000, maxRoomsPerUser: 4 });
    expect((await create(env, mallory)).opcode).toBe(Opcode.ACK);
  });

  it("counts creations in flight: concurrent ROOM_CREATEs cannot pass the quota", async () => {
    const env = await makeEnv({ limits: { maxRoomsPerUser: 2 } });
    const mallory = await makeClient(env, "mallory");
    const answers = await Promise.all(Array.from({ length: 6 }, () => create(env, mallory)));
    expect(answers.filter((a) => a.opcode === Opcode.ACK)).toHaveLength(2);
    expect(answers.filter((a) => errorName(a) === "TOO_MANY_ROOMS")).toHaveLength(4);
  });
});
