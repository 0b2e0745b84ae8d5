/**
 * Issue 12, "Any room can be joined by its id" and the GroupInfo reused for 213 room ids:
 * replayed against a real kalandrad with real client cores (MLS, sender keys) over
 * WebSocket, plus raw sessions for what an attacker sends by hand. Before room access
 * (DESIGN §10, docs/protocol.md "Room access") an outsider fetched any room's GroupInfo,
 * joined it by external commit and read new messages; a kicked user rejoined at once; one
 * GroupInfo created room after room. Each is refused now, with the same NO_ACCESS whether
 * or not the room exists; a bystander session and the room's members keep working.
 */
import { HubError } from "@kalandra/client";
import { decodePayload, encodePayload, Opcode } from "@kalandra/proto";
import { waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeUser, enc, openUser, rawAs as rawAsUser, type User } from "./clientCores.js";
import { errorName, pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";
import { ADMIN_TOKEN, auditOf } from "./identityHub.js";

let hub: SecurityHub;
let bystander: RawSession;
const open: User[] = [];
const raws: RawSession[] = [];

async function user(id: string): Promise<User> {
  const u = await openUser(hub, id);
  open.push(u);
  return u;
}

/** A raw session on the same device key as a client (what its owner may send by hand). */
async function rawAs(u: User): Promise<RawSession> {
  const s = await rawAsUser(hub, u);
  raws.push(s);
  return s;
}

const until = (pred: () => boolean, what: string) =>
  waitUntil(pred, what, { timeoutMs: 20_000, intervalMs: 20 });

async function hubRefuses(p: Promise<unknown>, name: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, `expected the hub to refuse with ${name}`).toBeInstanceOf(HubError);
  expect((e as HubError).hubName).toBe(name);
}

/** Alice's invite-only room with bob; both read each other. */
async function roomOfAliceAndBob(): Promise<{ room: bigint; alice: User; bob: User }> {
  const alice = await user(`alice-${open.length}`);
  const bob = await user(`bob-${open.length}`);
  const room = await alice.client.createRoom();
  await bob.client.expectWelcome(room);
  await alice.client.addMembers(room, [bob.client.userId]);
  await until(() => bob.client.room(room)?.phase.kind === "synchronized", "bob in the room");
  return { room, alice, bob };
}

async function membersStillTalk(room: bigint, a: User, b: User, tag: string): Promise<void> {
  await a.client.send(room, enc(`${tag} from a`));
  await until(() => b.texts.includes(`${tag} from a`), `${tag}: b reads a`);
  await pingOk(bystander);
}

beforeAll(async () => {
  hub = await startHub({
    monitoring: true,
    env: { KALANDRA_MODERATION__MODERATORS: "mod", KALANDRA_MONITORING__ADMIN_TOKEN: ADMIN_TOKEN },
  });
  bystander = await RawSession.open(hub, "bystander");
}, 30_000);
afterAll(async () => {
  for (const s of raws) s.close();
  for (const u of open) closeUser(u);
  bystander?.close();
  await hub?.stop();
});

it("an outsider cannot fetch the GroupInfo nor join by room id, and learns nothing", async () => {
  const { room, alice, bob } = await roomOfAliceAndBob();
  const mallory = await user("mallory");
  const raw = await rawAs(mallory);
  const fetch = (roomId: bigint) =>
    raw.request({
      opcode: Opcode.GROUP_INFO_FETCH,
      roomId,
      payload: encodePayload(Opcode.GROUP_INFO_FETCH, {}),
    });
  const existing = await fetch(room);
  const missing = await fetch(room ^ 0xffffn);
  expect(errorName(existing)).toBe("NO_ACCESS");
  // The same answer for a room that does not exist: no members, no epoch, no existence.
  expect(decodePayload(Opcode.ERROR, existing.payload)).toEqual(
    decodePayload(Opcode.ERROR, missing.payload),
  );
  expect(existing.header.epoch).toBe(missing.header.epoch);
  // The policy (roles, invites) is for members only, with the same answer.
  const policyOf = (roomId: bigint) =>
    raw.request({
      opcode: Opcode.ROOM_POLICY_FETCH,
      roomId,
      payload: encodePayload(Opcode.ROOM_POLICY_FETCH, {}),
    });
  const policy = await policyOf(room);
  expect(errorName(policy)).toBe("NO_ACCESS");
  expect(decodePayload(Opcode.ERROR, policy.payload)).toEqual(
    decodePayload(Opcode.ERROR, (await policyOf(room ^ 0xffffn)).payload),
  );
  // The real client's external join is refused, and it reads nothing sent afterwards.
  await hubRefuses(mallory.client.joinExternal(room), "NO_ACCESS");
  expect(mallory.client.room(room)).toBeUndefined();
  await membersStillTalk(room, alice, bob, "after mallory");
  expect(mallory.texts).toEqual([]);
  // A rights violation: each refused attempt is in the audit chain under mallory.
  const refused = (await auditOf(hub, "access_refused")).filter((r) => r.actor === "user:mallory");
  // Two raw fetches and the client's (its join stops at the fetch).
  const fetches = refused.filter(
    (r) => (r.detail as { opcode: string }).opcode === "GROUP_INFO_FETCH",
  );
  expect(fetches.length).toBeGreaterThanOrEqual(3);
}, 60_000);

it("an invited user joins; a member who is not an admin cannot invite or change roles", async () => {
  const { room, alice, bob } = await roomOfAliceAndBob();
  const dave = await user("dave");
  const erin = await user("erin");
  await hubRefuses(bob.client.invite(room, "erin"), "FORBIDDEN");
  await hubRefuses(bob.client.setRole(room, bob.client.userId, "admin"), "FORBIDDEN");
  await hubRefuses(bob.client.setJoinRule(room, "open"), "FORBIDDEN");
  await hubRefuses(erin.client.joinExternal(room), "NO_ACCESS");
  const bobs = (await auditOf(hub, "access_refused")).filter(
    (r) => r.actor === `user:${bob.client.userId}`,
  );
  expect(bobs.map((r) => (r.detail as { opcode: string }).opcode)).toEqual(
    expect.arrayContaining(["ROOM_POLICY"]),
  );

  await alice.client.invite(room, "dave");
  await dave.client.joinExternal(room);
  await until(() => alice.client.room(room)?.members.includes("dave") === true, "dave in");
  await membersStillTalk(room, alice, dave, "with dave");
  const policy = await dave.client.roomPolicy(room);
  expect(policy.invites.has("dave")).toBe(false); // used up by the join
  expect(policy.roles.get(alice.client.userId)).toBe("owner");
  // Later changes reach every member's room view through the log.
  await bob.client.roomPolicy(room);
  expect(bob.client.room(room)?.role).toBe("member");
  await alice.client.setRole(room, bob.client.userId, "admin");
  await until(() => bob.client.room(room)?.role === "admin", "bob sees his new role");
  await until(
    () => dave.client.room(room)?.policy?.roles.get(bob.client.userId) === "admin",
    "dave sees it",
  );
  await bob.client.invite(room, "erin");
  await erin.client.joinExternal(room);
  await until(() => dave.client.room(room)?.members.includes("erin") === true, "erin in");
  expect(dave.client.room(room)?.policy?.invites.has("erin")).toBe(false);
}, 60_000);

it("a kicked user cannot rejoin, and a kick takes an unused invite", async () => {
  const { room, alice, bob } = await roomOfAliceAndBob();
  const carol = await user("carol");
  const frank = await user("frank");
  await carol.client.expectWelcome(room);
  await alice.client.addMembers(room, ["carol"]);
  await until(() => carol.client.room(room)?.phase.kind === "synchronized", "carol in");

  const mod = await RawSession.open(hub, "mod");
  raws.push(mod);
  const kick = async (target: string) => {
    const kicked = await mod.request({
      opcode: Opcode.KICK,
      roomId: room,
      payload: encodePayload(Opcode.KICK, { user_id: target, reason: "security suite" }),
    });
    expect(errorName(kicked)).toBeUndefined();
  };
  await kick("carol");
  await until(() => carol.client.room(room)?.phase.kind === "removed", "carol removed");
  await hubRefuses(carol.client.joinExternal(room), "NO_ACCESS");
  // An invite not used yet is taken by a kick too.
  await alice.client.invite(room, "frank");
  await kick("frank");
  await hubRefuses(frank.client.joinExternal(room), "NO_ACCESS");
  await membersStillTalk(room, alice, bob, "after the kick");
  expect(carol.texts).not.toContain("after the kick from a");
}, 60_000);

it("one GroupInfo opens one room: reused for another room id it is refused", async () => {
  const owner = await user("owner");
  const room = await owner.client.createRoom();
  const raw = await rawAs(owner);
  const gi = await raw.request({
    opcode: Opcode.GROUP_INFO_FETCH,
    roomId: room,
    payload: encodePayload(Opcode.GROUP_INFO_FETCH, {}),
  });
  const { group_info } = decodePayload(Opcode.GROUP_INFO, gi.payload);
  for (let i = 1n; i <= 5n; i++) {
    const reuse = await raw.request({
      opcode: Opcode.ROOM_CREATE,
      roomId: room + i,
      payload: encodePayload(Opcode.ROOM_CREATE, { group_info }),
    });
    expect(errorName(reuse)).toBe("INVALID_GROUP_INFO");
  }
  await pingOk(bystander);
  // The bystander can still create its own room.
  const own = await user("bystander-user");
  expect(typeof (await own.client.createRoom())).toBe("bigint");
}, 60_000);
