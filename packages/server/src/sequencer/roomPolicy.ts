/**
 * A room's access policy (DESIGN §10, docs/protocol.md "Room access"): roles, the join rule
 * and the invites, and the one state machine that changes them. Pure: no storage, no clock
 * (the caller passes `nowSeconds`); the sequencer stores the policy inside the room state it
 * persists with the ROOM_POLICY frame that changed it, so every change is in the log and a
 * restarted or re-sharded room has exactly the policy its members saw.
 *
 * Roles: "owner" and "admin" are stored by user id; every other current member is a
 * "member". A change is refused FORBIDDEN unless its actor is an admin or owner, it never
 * grants a role above the actor's own, only an owner changes the role of an equal or
 * higher user, and the last owner stays an owner. So no sequence of changes lets a member
 * raise anyone's role, its own included.
 */
import type { Opcode, PayloadOf } from "@kalandra/proto";
import { type Refusal, refuse } from "../vocabulary/outcome.js";

export type Role = "owner" | "admin" | "member";
export type JoinRule = "invite" | "open";

export interface RoomPolicy {
  readonly joinRule: JoinRule;
  /** For an open room: domains (`name@domain`) whose users may join; empty = every user. */
  readonly allowedDomains: readonly string[];
  /** Elevated roles by user id; any other current member is a "member". */
  readonly roles: ReadonlyMap<string, "owner" | "admin">;
  /** Unexpired-until (seconds since the Unix epoch) of each invited user. */
  readonly invites: ReadonlyMap<string, bigint>;
  /**
   * Rooms created before rooms had policies (no creator known): every current member
   * counts as an admin, the join rule is invite-only (docs/protocol.md "Room access").
   */
  readonly membersAreAdmins: boolean;
}

export type PolicyChange = PayloadOf<typeof Opcode.ROOM_POLICY>;

/** Who asks for a change: a user (with whether it is a current member) or the hub. */
export type PolicyActor = { kind: "user"; userId: string; isMember: boolean } | { kind: "hub" };

/** Bounds that keep the policy (stored with every state write) small. */
export const POLICY_LIMITS = {
  maxInvites: 1024,
  maxRoles: 256,
  maxDomains: 32,
  maxNameLength: 256,
  /** Longest an invite may stay valid. */
  maxInviteSeconds: 366n * 24n * 3600n,
} as const;

const RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 };

/** A new room's policy: its creator is the owner; invite-only unless asked otherwise. */
export function newRoomPolicy(
  creator: string,
  joinRule: JoinRule = "invite",
  allowedDomains: readonly string[] = [],
): Refusal | RoomPolicy {
  const bad = checkDomains(joinRule, allowedDomains);
  if (bad !== undefined) return bad;
  return {
    joinRule,
    allowedDomains: [...allowedDomains],
    roles: new Map([[creator, "owner"]]),
    invites: new Map(),
    membersAreAdmins: false,
  };
}

/** The policy of a room stored before policies existed. */
export const LEGACY_ROOM_POLICY: RoomPolicy = Object.freeze({
  joinRule: "invite",
  allowedDomains: [],
  roles: new Map(),
  invites: new Map(),
  membersAreAdmins: true,
});

/** A user's role in the room; undefined for a user who is not a member. */
export function roleOf(policy: RoomPolicy, userId: string, isMember: boolean): Role | undefined {
  if (!isMember) return undefined;
  return policy.roles.get(userId) ?? (policy.membersAreAdmins ? "admin" : "member");
}

/** True for members whose role is admin or owner. */
export function isRoomAdmin(policy: RoomPolicy, userId: string, isMember: boolean): boolean {
  const role = roleOf(policy, userId, isMember);
  return role !== undefined && RANK[role] >= RANK.admin;
}

/** The domain of a `name@domain` user id, undefined without one. */
export function domainOf(userId: string): string | undefined {
  const at = userId.lastIndexOf("@");
  return at < 0 ? undefined : userId.slice(at + 1);
}

/**
 * May a user who is not a member fetch the GroupInfo and join by external commit? With an
 * unexpired invite, or when the room is open to the user's domain.
 */
export function mayJoin(policy: RoomPolicy, userId: string, nowSeconds: bigint): boolean {
  const until = policy.invites.get(userId);
  if (until !== undefined && until > nowSeconds) return true;
  if (policy.joinRule !== "open") return false;
  if (policy.allowedDomains.length === 0) return true;
  const domain = domainOf(userId);
  return domain !== undefined && policy.allowedDomains.includes(domain);
}

/** Invites are used up when their user becomes a member (by Add or external commit). */
export function consumeInvites(policy: RoomPolicy, joined: Iterable<string>): RoomPolicy {
  let invites: Map<string, bigint> | undefined;
  for (const u of joined) {
    if (!policy.invites.has(u)) continue;
    invites ??= new Map(policy.invites);
    invites.delete(u);
  }
  return invites === undefined ? policy : { ...policy, invites };
}

/**
 * Applies one ROOM_POLICY change for `actor`: the next policy, or why it is refused.
 * The hub's only change is "expel" (a kick: the user loses its invite and its role).
 */
export function changePolicy(
  policy: RoomPolicy,
  actor: PolicyActor,
  change: PolicyChange,
  nowSeconds: bigint,
): Refusal | RoomPolicy {
  if (change.action === "expel") {
    if (actor.kind !== "hub") return refuse("FORBIDDEN", "only the hub expels (a kick)");
    const user = requireUser(change);
    if (typeof user !== "string") return user;
    return withoutUser(policy, user);
  }
  if (actor.kind === "hub") return refuse("FORBIDDEN", "the hub only expels");
  const actorRole = roleOf(policy, actor.userId, actor.isMember);
  if (actorRole === undefined || RANK[actorRole] < RANK.admin) {
    return refuse("FORBIDDEN", `${actor.userId} is not an admin of this room`);
  }
  switch (change.action) {
    case "invite":
      return invite(policy, change, nowSeconds);
    case "revoke": {
      const user = requireUser(change);
      if (typeof user !== "string") return user;
      if (!policy.invites.has(user)) return policy;
      const invites = new Map(policy.invites);
      invites.delete(user);
      return { ...policy, invites };
    }
    case "set_role":
      return setRole(policy, actorRole, change);
    case "set_join_rule": {
      if (change.join_rule === undefined) return refuse("BAD_PAYLOAD", "set_join_rule: join_rule");
      const domains = change.allowed_domains ?? [];
      const bad = checkDomains(change.join_rule, domains);
      if (bad !== undefined) return bad;
      return { ...policy, joinRule: change.join_rule, allowedDomains: [...domains] };
    }
  }
}

function invite(
  policy: RoomPolicy,
  change: PolicyChange,
  nowSeconds: bigint,
): Refusal | RoomPolicy {
  const user = requireUser(change);
  if (typeof user !== "string") return user;
  const until = change.expires_at;
  if (until === undefined || until <= nowSeconds) {
    return refuse("BAD_PAYLOAD", "invite: expires_at must be in the future");
  }
  if (until - nowSeconds > POLICY_LIMITS.maxInviteSeconds) {
    return refuse("BAD_PAYLOAD", "invite: expires_at is too far in the future");
  }
  const invites = new Map(policy.invites);
  // Expired invites make room for new ones.
  for (const [u, t] of invites) if (t <= nowSeconds) invites.delete(u);
  invites.set(user, until);
  if (invites.size > POLICY_LIMITS.maxInvites) {
    return refuse("RATE_LIMITED", `a room holds at most ${POLICY_LIMITS.maxInvites} invites`);
  }
  return { ...policy, invites };
}

function setRole(policy: RoomPolicy, actorRole: Role, change: PolicyChange): Refusal | RoomPolicy {
  const user = requireUser(change);
  if (typeof user !== "string") return user;
  if (change.role === undefined) return refuse("BAD_PAYLOAD", "set_role: role");
  const wanted = change.role;
  const current: Role = policy.roles.get(user) ?? "member";
  if (RANK[wanted] > RANK[actorRole]) {
    return refuse("FORBIDDEN", `an ${actorRole} cannot grant ${wanted}`);
  }
  if (RANK[current] >= RANK[actorRole] && actorRole !== "owner") {
    return refuse("FORBIDDEN", `an ${actorRole} cannot change the role of an ${current}`);
  }
  if (current === "owner" && wanted !== "owner" && ownerCount(policy) <= 1) {
    return refuse("FORBIDDEN", "a room keeps at least one owner");
  }
  const roles = new Map(policy.roles);
  if (wanted === "member") roles.delete(user);
  else roles.set(user, wanted);
  if (roles.size > POLICY_LIMITS.maxRoles) {
    return refuse("RATE_LIMITED", `a room holds at most ${POLICY_LIMITS.maxRoles} roles`);
  }
  return { ...policy, roles };
}

/** A kick: no invite, no role; the last owner keeps the room owned (the hub may kick it). */
function withoutUser(policy: RoomPolicy, user: string): RoomPolicy {
  if (!policy.invites.has(user) && !policy.roles.has(user)) return policy;
  const invites = new Map(policy.invites);
  invites.delete(user);
  const roles = new Map(policy.roles);
  roles.delete(user);
  return { ...policy, invites, roles };
}

function ownerCount(policy: RoomPolicy): number {
  let n = 0;
  for (const r of policy.roles.values()) if (r === "owner") n++;
  return n;
}

function requireUser(change: PolicyChange): Refusal | string {
  const u = change.user_id;
  if (u === undefined || u.length === 0 || u.length > POLICY_LIMITS.maxNameLength) {
    return refuse("BAD_PAYLOAD", `${change.action}: user_id`);
  }
  return u;
}

function checkDomains(rule: JoinRule, domains: readonly string[]): Refusal | undefined {
  if (rule === "invite" && domains.length > 0) {
    return refuse("BAD_PAYLOAD", "allowed_domains only go with an open room");
  }
  if (domains.length > POLICY_LIMITS.maxDomains) {
    return refuse("BAD_PAYLOAD", `at most ${POLICY_LIMITS.maxDomains} allowed domains`);
  }
  if (domains.some((d) => d.length === 0 || d.length > 253 || d.includes("@"))) {
    return refuse("BAD_PAYLOAD", "allowed_domains: a domain is a non-empty name without '@'");
  }
  return undefined;
}

/** The policy as ROOM_POLICY_STATE's payload (and as the room state stores it). */
export function policyPayload(p: RoomPolicy): PayloadOf<typeof Opcode.ROOM_POLICY_STATE> {
  return {
    join_rule: p.joinRule,
    allowed_domains: [...p.allowedDomains],
    roles: [...p.roles].map(([user_id, role]) => ({ user_id, role })),
    invites: [...p.invites].map(([user_id, expires_at]) => ({ user_id, expires_at })),
    members_are_admins: p.membersAreAdmins,
  };
}

/** Reads a policy back from `policyPayload`'s shape. */
export function policyFromPayload(m: PayloadOf<typeof Opcode.ROOM_POLICY_STATE>): RoomPolicy {
  return {
    joinRule: m.join_rule,
    allowedDomains: [...m.allowed_domains],
    roles: new Map(m.roles.map((r) => [r.user_id, r.role])),
    invites: new Map(m.invites.map((i) => [i.user_id, i.expires_at])),
    membersAreAdmins: m.members_are_admins,
  };
}
