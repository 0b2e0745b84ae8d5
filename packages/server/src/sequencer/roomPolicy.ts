/**
 * Who may change a room's access policy (DESIGN §10, docs/protocol.md "Room access"): the
 * policy itself and what each change does live in proto (roomPolicy.ts, shared with the
 * clients); this module judges each change — actor, bounds, validity — before the
 * sequencer applies it. Pure: no storage, no clock
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
import {
  applyRoomPolicyChange,
  createdRoomPolicy,
  type JoinRule,
  type RoomPolicyChange as PolicyChange,
  type RoomRole as Role,
  type RoomPolicy,
  roomRoleOf as roleOf,
} from "@kalandra/proto";
import { type Refusal, refuse } from "../vocabulary/outcome.js";

export {
  consumeRoomInvites as consumeInvites,
  roomPolicyFromState as policyFromPayload,
  roomPolicyToState as policyPayload,
} from "@kalandra/proto";
export type { JoinRule, PolicyChange, Role, RoomPolicy };
export { roleOf };

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
  return createdRoomPolicy(creator, joinRule, allowedDomains);
}

/** The policy of a room stored before policies existed. */
export const LEGACY_ROOM_POLICY: RoomPolicy = Object.freeze({
  joinRule: "invite",
  allowedDomains: [],
  roles: new Map(),
  invites: new Map(),
  membersAreAdmins: true,
});

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
    return applyRoomPolicyChange(policy, change);
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
      return applyRoomPolicyChange(policy, change);
    }
    case "set_role":
      return setRole(policy, actorRole, change);
    case "set_join_rule": {
      if (change.join_rule === undefined) return refuse("BAD_PAYLOAD", "set_join_rule: join_rule");
      const domains = change.allowed_domains ?? [];
      const bad = checkDomains(change.join_rule, domains);
      if (bad !== undefined) return bad;
      return applyRoomPolicyChange(policy, change);
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
  // Expired invites stay until revoked (members apply the same change without a clock).
  const next = applyRoomPolicyChange(policy, change);
  if (next.invites.size > POLICY_LIMITS.maxInvites) {
    return refuse("RATE_LIMITED", `a room holds at most ${POLICY_LIMITS.maxInvites} invites`);
  }
  return next;
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
  const next = applyRoomPolicyChange(policy, change);
  if (next.roles.size > POLICY_LIMITS.maxRoles) {
    return refuse("RATE_LIMITED", `a room holds at most ${POLICY_LIMITS.maxRoles} roles`);
  }
  return next;
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
