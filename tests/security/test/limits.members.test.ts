/**
 * Issue 12: `max_members_per_room=3` admitted a first commit adding 4 users and later adds.
 * The sequencer counts members from the MLS tree (issue 11: commits with and without
 * `welcome_recipients`, external commits) and now at creation too: a ROOM_CREATE whose
 * GroupInfo already holds 4 members, and a commit adding a 4th, are refused ROOM_FULL.
 * The rooms are built under a limit of 4, which a reload (SIGHUP) then lowers to 3.
 * Before the change the crowded ROOM_CREATE was refused INVALID_GROUP_INFO (its epoch)
 * rather than ROOM_FULL; the commit adding a 4th was already refused (issue 11).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodePayload, encodePayload, Opcode } from "@kalandra/proto";
import { tempDir, waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeUser, openUser, rawAs, type User, untilEpoch } from "./clientCores.js";
import { errorName, pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";

const conf = tempDir("security-members");
const file = join(conf.path, "kalandra.toml");
let hub: SecurityHub;
let bystander: RawSession;
const users: User[] = [];

const limit = (n: number) => writeFileSync(file, `[limits]\nmax_members_per_room = ${n}\n`);

beforeAll(async () => {
  limit(4);
  hub = await startHub({ args: ["--config", file] });
  bystander = await RawSession.open(hub, "bystander");
});
afterAll(async () => {
  for (const u of users) closeUser(u);
  bystander?.close();
  await hub?.stop();
  conf.cleanup();
});

it("refuses ROOM_FULL: a ROOM_CREATE whose tree holds 4 members, and a commit adding a 4th, at max_members_per_room=3", async () => {
  const [alice, bob, carol, dave] = await Promise.all(
    ["alice", "bob", "carol", "dave"].map((id) => openUser(hub, id)),
  );
  users.push(alice!, bob!, carol!, dave!);
  const crowded = await alice!.client.createRoom();
  await Promise.all([bob, carol, dave].map((u) => u!.client.expectWelcome(crowded)));
  await alice!.client.addMembers(crowded, ["bob", "carol", "dave"]);
  await untilEpoch([alice!, bob!, carol!, dave!], crowded, 1n);
  const three = await alice!.client.createRoom();
  await Promise.all([bob, carol].map((u) => u!.client.expectWelcome(three)));
  await alice!.client.addMembers(three, ["bob", "carol"]);
  await untilEpoch([alice!, bob!, carol!], three, 1n);

  const raw = await rawAs(hub, alice!);
  const fetched = await raw.request({
    opcode: Opcode.GROUP_INFO_FETCH,
    roomId: crowded,
    epoch: 1n,
    payload: encodePayload(Opcode.GROUP_INFO_FETCH, {}),
  });
  const { group_info } = decodePayload(Opcode.GROUP_INFO, fetched.payload);

  limit(3);
  hub.child.kill("SIGHUP");
  await waitUntil(() => hub.log().includes("configuration reloaded"), "the hub reloaded", {
    timeoutMs: 10_000,
    intervalMs: 50,
  });

  const created = await raw.request({
    opcode: Opcode.ROOM_CREATE,
    roomId: crowded + 1n,
    payload: encodePayload(Opcode.ROOM_CREATE, { group_info }),
  });
  expect(errorName(created)).toBe("ROOM_FULL");
  await expect(alice!.client.addMembers(three, ["dave"])).rejects.toMatchObject({
    hubName: "ROOM_FULL",
  });
  raw.close();
  await pingOk(bystander);
}, 120_000);
