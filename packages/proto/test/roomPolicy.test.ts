/**
 * proto's room policy (src/roomPolicy.ts): what each ROOM_POLICY change does, hub and
 * clients alike; who may make it is the server's (sequencer/roomPolicy.ts, its own tests).
 */
import { describe, expect, it } from "vitest";
import { Opcode } from "../src/opcodes.js";
import { decodePayload, encodePayload } from "../src/payloads/codec.js";
import {
  applyRoomPolicyChange,
  consumeRoomInvites,
  createdRoomPolicy,
  roomPolicyFromState,
  roomPolicyToState,
  roomRoleOf,
} from "../src/roomPolicy.js";

describe("room policy", () => {
  it("applies each change and round-trips through ROOM_POLICY_STATE", () => {
    let p = createdRoomPolicy("alice");
    expect(roomRoleOf(p, "alice", true)).toBe("owner");
    expect(roomRoleOf(p, "bob", true)).toBe("member");
    expect(roomRoleOf(p, "bob", false)).toBeUndefined();
    p = applyRoomPolicyChange(p, { action: "invite", user_id: "dave", expires_at: 100n });
    p = applyRoomPolicyChange(p, { action: "invite", user_id: "erin", expires_at: 200n });
    p = applyRoomPolicyChange(p, { action: "set_role", user_id: "bob", role: "admin" });
    p = applyRoomPolicyChange(p, {
      action: "set_join_rule",
      join_rule: "open",
      allowed_domains: ["x.org"],
    });
    expect(p.invites).toEqual(
      new Map([
        ["dave", 100n],
        ["erin", 200n],
      ]),
    );
    expect(roomRoleOf(p, "bob", true)).toBe("admin");
    expect([p.joinRule, p.allowedDomains]).toEqual(["open", ["x.org"]]);
    const wire = encodePayload(Opcode.ROOM_POLICY_STATE, roomPolicyToState(p));
    expect(roomPolicyFromState(decodePayload(Opcode.ROOM_POLICY_STATE, wire))).toEqual(p);

    p = applyRoomPolicyChange(p, { action: "revoke", user_id: "erin" });
    p = applyRoomPolicyChange(p, { action: "set_role", user_id: "bob", role: "member" });
    expect([...p.invites.keys()]).toEqual(["dave"]);
    expect(roomRoleOf(p, "bob", true)).toBe("member");
    expect(consumeRoomInvites(p, ["dave", "zed"]).invites.size).toBe(0);
    expect(consumeRoomInvites(p, ["zed"])).toBe(p);
    // expel: invite and role gone; nothing to take leaves the policy as it was.
    const q = applyRoomPolicyChange(p, { action: "set_role", user_id: "dave", role: "admin" });
    const expelled = applyRoomPolicyChange(q, { action: "expel", user_id: "dave" });
    expect([expelled.invites.has("dave"), expelled.roles.has("dave")]).toEqual([false, false]);
    expect(applyRoomPolicyChange(expelled, { action: "expel", user_id: "dave" })).toBe(expelled);
    const legacy = { ...createdRoomPolicy("a"), roles: new Map(), membersAreAdmins: true };
    expect(roomRoleOf(legacy, "anyone", true)).toBe("admin");
  });
});
