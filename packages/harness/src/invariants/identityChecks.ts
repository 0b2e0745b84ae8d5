/**
 * The identity and access invariants (DESIGN §10, issue 12), held against the simulation's
 * identity provider (identity.ts: which user each device key was created for) and the room
 * access ledger (access.ts: who the honest actors admitted):
 *
 * - leaf_owner: no device of a user other than the authenticated owner ever holds a leaf
 *   under that user's name — every leaf of every tree (the hub's public view and each
 *   honest client's view) is held by a device bound to the user its credential names.
 * - room_access: no one outside a room's members and invitees ever holds a leaf in it —
 *   a leaf that appears in the hub's tree belongs to a user admitted at that moment.
 * - session_owner: the hub authenticates a session only as the user its device belongs to
 *   (checked as each session is attached, `sessionAttached`).
 *
 * The hub's tree is judged at every commit it sequences (the world calls `observeHubTree`
 * as the commit is buffered, synchronously, so a removal and a rejoin between two safety
 * checks are two trees) and at every safety check; a leaf is new in an epoch when the
 * tree of the epoch before did not hold its device. Clients' trees are historical hub
 * trees: a client's leaf is judged by the hub's tree of the same epoch when there is one.
 */
import type { World } from "../world.js";
import type { SafetyContext } from "./hubLog.js";

/** A leaf as the checks read it: the device holding it and the user its credential names. */
export interface LeafRef {
  senderId: bigint;
  userId: string;
}

/** Per room: the devices of the hub's tree at each epoch it was seen in. */
const hubTrees = new WeakMap<World, Map<bigint, Map<bigint, Set<bigint>>>>();

function treesOf(w: World, roomId: bigint): Map<bigint, Set<bigint>> {
  let byRoom = hubTrees.get(w);
  if (byRoom === undefined) {
    byRoom = new Map();
    hubTrees.set(w, byRoom);
  }
  let trees = byRoom.get(roomId);
  if (trees === undefined) {
    trees = new Map();
    byRoom.set(roomId, trees);
  }
  return trees;
}

const hex = (senderId: bigint): string => senderId.toString(16).padStart(16, "0");

function holder(w: World, senderId: bigint): string {
  const owner = w.identity.ownerOf(senderId);
  return owner === undefined
    ? `device ${hex(senderId)}, bound to no user`
    : `device ${hex(senderId)} of ${owner}`;
}

/** leaf_owner over one tree; `whose` names the view ("hub", a client's name). */
function checkOwners(
  w: World,
  roomId: bigint,
  epoch: bigint,
  whose: string,
  leaves: readonly LeafRef[],
): void {
  for (const l of leaves) {
    if (w.identity.ownerOf(l.senderId) === l.userId) continue;
    w.violation(
      "leaf_owner",
      `room ${roomId} epoch ${epoch} (${whose}'s tree): a leaf under ${l.userId}'s name is held by ${holder(w, l.senderId)}`,
    );
  }
}

function outsider(w: World, roomId: bigint, epoch: bigint, whose: string, l: LeafRef): void {
  w.violation(
    "room_access",
    `room ${roomId} epoch ${epoch} (${whose}'s tree): ${l.userId} holds a leaf (${holder(w, l.senderId)}) but is neither a member nor an invitee (scenarios admit whom they add or invite: w.access.admit)`,
  );
}

/**
 * Judges the hub's current tree of `roomId` once per (epoch, set of devices): leaf_owner
 * on every leaf, room_access on the leaves the previous epoch's tree did not hold.
 */
export function observeHubTree(w: World, roomId: bigint): void {
  const room = w.hub.room(roomId);
  if (room === undefined) return;
  const leaves = room.group.members();
  const epoch = room.epoch;
  const trees = treesOf(w, roomId);
  const devices = new Set(leaves.map((l) => l.senderId));
  const seen = trees.get(epoch);
  if (seen !== undefined && sameSet(seen, devices)) return;
  checkOwners(w, roomId, epoch, "hub", leaves);
  const before = previousTree(trees, epoch);
  for (const l of leaves) {
    if (before?.has(l.senderId) === true) continue;
    if (!w.access.may(roomId, l.userId)) outsider(w, roomId, epoch, "hub", l);
  }
  trees.set(epoch, devices);
}

/** The hub tree of the closest earlier epoch seen (after a crash an epoch may be missing). */
function previousTree(trees: Map<bigint, Set<bigint>>, epoch: bigint): Set<bigint> | undefined {
  let best: bigint | undefined;
  for (const e of trees.keys()) if (e < epoch && (best === undefined || e > best)) best = e;
  return best === undefined ? undefined : trees.get(best);
}

function sameSet(a: ReadonlySet<bigint>, b: ReadonlySet<bigint>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** Safety check: the hub's tree now, and every honest client's tree at its own epoch. */
export function checkLeaves({ w, roomId }: SafetyContext): void {
  observeHubTree(w, roomId);
  const trees = treesOf(w, roomId);
  for (const c of w.clients.values()) {
    const client = c.client;
    if (client === undefined) continue;
    const leaves = client.leaves(roomId);
    const epoch = client.room(roomId)?.epoch;
    if (leaves === undefined || epoch === undefined) continue;
    checkOwners(w, roomId, epoch, c.name, leaves);
    const hubTree = trees.get(epoch);
    for (const l of leaves) {
      // Judged with the hub's tree of that epoch (reported there if it was an outsider).
      if (hubTree?.has(l.senderId) === true) continue;
      if (!w.access.may(roomId, l.userId)) outsider(w, roomId, epoch, c.name, l);
    }
  }
}

/** session_owner, as the hub attaches an authenticated session. */
export function sessionAttached(w: World, senderId: bigint, userId: string): void {
  const owner = w.identity.ownerOf(senderId);
  if (owner === userId) return;
  w.violation("session_owner", `the hub authenticated ${holder(w, senderId)} as ${userId}`);
}
