/**
 * A room's access policy (docs/protocol.md "Room access"): roles, join rule and invites,
 * and what each sequenced ROOM_POLICY change does to it. Hub and clients share this one
 * definition: the hub's sequencer decides who may make which change (server
 * sequencer/roomPolicy.ts) and applies it with `applyRoomPolicyChange`; every client
 * applies the same change, read from the log, to its view of the room.
 */
import type { Opcode } from "./opcodes.js";
import type { PayloadOf } from "./payloads/schemas.js";

export type RoomRole = "owner" | "admin" | "member";
export type JoinRule = "invite" | "open";

export interface RoomPolicy {
  readonly joinRule: JoinRule;
  /** For an open room: domains (`name@domain`) whose users may join; empty = every user. */
  readonly allowedDomains: readonly string[];
  /** Elevated roles by user id; any other current member is a "member". */
  readonly roles: ReadonlyMap<string, "owner" | "admin">;
  /** When each invite expires (seconds since the Unix epoch), by invited user id. */
  readonly invites: ReadonlyMap<string, bigint>;
  /**
   * A room stored before rooms had policies (no creator known): every current member
   * counts as an admin.
   */
  readonly membersAreAdmins: boolean;
}

export type RoomPolicyChange = PayloadOf<typeof Opcode.ROOM_POLICY>;
export type RoomPolicyState = PayloadOf<typeof Opcode.ROOM_POLICY_STATE>;

/** A new room's policy: `owner` owns it. */
export function createdRoomPolicy(
  owner: string,
  joinRule: JoinRule = "invite",
  allowedDomains: readonly string[] = [],
): RoomPolicy {
  return {
    joinRule,
    allowedDomains: [...allowedDomains],
    roles: new Map([[owner, "owner"]]),
    invites: new Map(),
    membersAreAdmins: false,
  };
}

/** A member's role; undefined for a user who is not a member. */
export function roomRoleOf(p: RoomPolicy, userId: string, isMember: boolean): RoomRole | undefined {
  if (!isMember) return undefined;
  return p.roles.get(userId) ?? (p.membersAreAdmins ? "admin" : "member");
}

/**
 * What one ROOM_POLICY change does (it was judged before it was sequenced): invite and
 * revoke set and drop an invite, set_role sets a role ("member" drops it), set_join_rule
 * replaces the rule and its domains, the hub's expel drops the user's invite and role.
 */
export function applyRoomPolicyChange(p: RoomPolicy, c: RoomPolicyChange): RoomPolicy {
  const user = c.user_id ?? "";
  switch (c.action) {
    case "invite":
      return { ...p, invites: withEntry(p.invites, user, c.expires_at ?? 0n) };
    case "revoke":
      return { ...p, invites: without(p.invites, [user]) };
    case "set_role":
      return {
        ...p,
        roles:
          c.role === undefined || c.role === "member"
            ? without(p.roles, [user])
            : withEntry(p.roles, user, c.role),
      };
    case "set_join_rule":
      return { ...p, joinRule: c.join_rule ?? p.joinRule, allowedDomains: c.allowed_domains ?? [] };
    case "expel":
      if (!p.invites.has(user) && !p.roles.has(user)) return p;
      return { ...p, invites: without(p.invites, [user]), roles: without(p.roles, [user]) };
  }
}

/** Invites are used up when their users become members (by Add or external commit). */
export function consumeRoomInvites(p: RoomPolicy, joined: Iterable<string>): RoomPolicy {
  const used = [...joined].filter((u) => p.invites.has(u));
  return used.length === 0 ? p : { ...p, invites: without(p.invites, used) };
}

/** The policy as ROOM_POLICY_STATE's payload (the hub stores it in this form too). */
export function roomPolicyToState(p: RoomPolicy): RoomPolicyState {
  return {
    join_rule: p.joinRule,
    allowed_domains: [...p.allowedDomains],
    roles: [...p.roles].map(([user_id, role]) => ({ user_id, role })),
    invites: [...p.invites].map(([user_id, expires_at]) => ({ user_id, expires_at })),
    members_are_admins: p.membersAreAdmins,
  };
}

export function roomPolicyFromState(s: RoomPolicyState): RoomPolicy {
  return {
    joinRule: s.join_rule,
    allowedDomains: [...s.allowed_domains],
    roles: new Map(s.roles.map((r) => [r.user_id, r.role])),
    invites: new Map(s.invites.map((i) => [i.user_id, i.expires_at])),
    membersAreAdmins: s.members_are_admins,
  };
}

function withEntry<V>(m: ReadonlyMap<string, V>, k: string, v: V): Map<string, V> {
  const out = new Map(m);
  out.set(k, v);
  return out;
}

function without<V>(m: ReadonlyMap<string, V>, keys: readonly string[]): Map<string, V> {
  const out = new Map(m);
  for (const k of keys) out.delete(k);
  return out;
}
