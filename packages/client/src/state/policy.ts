/**
 * A room's access policy as the client sees it (docs/protocol.md "Room access"): roles,
 * join rule and invites, read from the hub (ROOM_POLICY_FETCH) and then kept current by
 * applying the sequenced ROOM_POLICY frames in log order, like every other room change.
 * The hub judged each change before sequencing it; the client applies what the log says.
 */
import { decodePayload, Opcode, type PayloadOf } from "@kalandra/proto";

export type RoomRole = "owner" | "admin" | "member";
export type JoinRule = "invite" | "open";

export interface RoomPolicyView {
  readonly joinRule: JoinRule;
  /** Domains whose users may join an open room; empty = every user. */
  readonly allowedDomains: readonly string[];
  /** Owners and admins by user id; other members are "member". */
  readonly roles: ReadonlyMap<string, "owner" | "admin">;
  /** Invited users and when each invite expires (seconds since the Unix epoch). */
  readonly invites: ReadonlyMap<string, bigint>;
  /** A room from before policies: every member counts as admin. */
  readonly membersAreAdmins: boolean;
}

type StatePayload = PayloadOf<typeof Opcode.ROOM_POLICY_STATE>;
type Change = PayloadOf<typeof Opcode.ROOM_POLICY>;

/** The policy of a room this device just created. */
export function createdPolicy(
  owner: string,
  joinRule: JoinRule,
  allowedDomains: readonly string[],
): RoomPolicyView {
  return {
    joinRule,
    allowedDomains: [...allowedDomains],
    roles: new Map([[owner, "owner"]]),
    invites: new Map(),
    membersAreAdmins: false,
  };
}

export function policyFromState(p: StatePayload): RoomPolicyView {
  return {
    joinRule: p.join_rule,
    allowedDomains: [...p.allowed_domains],
    roles: new Map(p.roles.map((r) => [r.user_id, r.role])),
    invites: new Map(p.invites.map((i) => [i.user_id, i.expires_at])),
    membersAreAdmins: p.members_are_admins,
  };
}

export function policyToState(v: RoomPolicyView): StatePayload {
  return {
    join_rule: v.joinRule,
    allowed_domains: [...v.allowedDomains],
    roles: [...v.roles].map(([user_id, role]) => ({ user_id, role })),
    invites: [...v.invites].map(([user_id, expires_at]) => ({ user_id, expires_at })),
    members_are_admins: v.membersAreAdmins,
  };
}

/** Decodes a ROOM_POLICY_STATE payload (strict schema). */
export function decodePolicyState(payload: Uint8Array): RoomPolicyView {
  return policyFromState(decodePayload(Opcode.ROOM_POLICY_STATE, payload));
}

/** Applies one sequenced ROOM_POLICY change (already judged by the hub). */
export function applyPolicyChange(v: RoomPolicyView, c: Change): RoomPolicyView {
  const user = c.user_id ?? "";
  switch (c.action) {
    case "invite": {
      const invites = new Map(v.invites);
      invites.set(user, c.expires_at ?? 0n);
      return { ...v, invites };
    }
    case "revoke": {
      const invites = new Map(v.invites);
      invites.delete(user);
      return { ...v, invites };
    }
    case "set_role": {
      const roles = new Map(v.roles);
      if (c.role === undefined || c.role === "member") roles.delete(user);
      else roles.set(user, c.role);
      return { ...v, roles };
    }
    case "set_join_rule":
      return { ...v, joinRule: c.join_rule ?? v.joinRule, allowedDomains: c.allowed_domains ?? [] };
    case "expel": {
      const invites = new Map(v.invites);
      invites.delete(user);
      const roles = new Map(v.roles);
      roles.delete(user);
      return { ...v, invites, roles };
    }
  }
}

/** An invite is used up when its user becomes a member (the hub does the same). */
export function consumeInvites(v: RoomPolicyView, joined: readonly string[]): RoomPolicyView {
  if (!joined.some((u) => v.invites.has(u))) return v;
  const invites = new Map(v.invites);
  for (const u of joined) invites.delete(u);
  return { ...v, invites };
}

/** A member's role under the policy. */
export function roleIn(v: RoomPolicyView, userId: string): RoomRole {
  return v.roles.get(userId) ?? (v.membersAreAdmins ? "admin" : "member");
}
