/**
 * Issue 12: one device created 213 rooms/s until the hub-wide `max_rooms` was full, after
 * which a bystander got TOO_MANY_ROOMS. Rooms are now counted per creating user too
 * (`limits.max_rooms_per_user`): the attacker stops at its quota and the bystander still
 * creates a room. Before the change the attacker created all 30 rooms the hub allows and
 * the bystander was refused.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeUser, openUser, type User } from "./clientCores.js";
import { pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";

let hub: SecurityHub;
let bystander: RawSession;
const users: User[] = [];

beforeAll(async () => {
  hub = await startHub({
    env: { KALANDRA_LIMITS__MAX_ROOMS: "30", KALANDRA_LIMITS__MAX_ROOMS_PER_USER: "10" },
  });
  bystander = await RawSession.open(hub, "bystander");
});
afterAll(async () => {
  for (const u of users) closeUser(u);
  bystander?.close();
  await hub?.stop();
});

it("stops one user's room creations at max_rooms_per_user; a bystander still creates a room", async () => {
  const mallory = await openUser(hub, "mallory");
  const carol = await openUser(hub, "carol");
  users.push(mallory, carol);
  let created = 0;
  let refusal: unknown;
  for (let i = 0; i < 40 && refusal === undefined; i++) {
    try {
      await mallory.client.createRoom();
      created++;
    } catch (e) {
      refusal = e;
    }
  }
  expect(created).toBe(10);
  expect((refusal as { hubName?: string }).hubName).toBe("TOO_MANY_ROOMS");
  const room = await carol.client.createRoom();
  expect(carol.client.room(room)).toBeDefined();
  await pingOk(bystander);
}, 120_000);
