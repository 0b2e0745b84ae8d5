/**
 * Moderation end to end (issue 8) on the simulation World: real KalandraClient devices, the
 * shipped HubHost, Session, HubCore and Moderation over LMDB, on the virtual clock (every
 * wait below polls the virtual clock; nothing sleeps). The hub kicks a member as the room's
 * MLS external sender; a member commits the removal when the hub asks; the kicked member
 * decrypts nothing sent after that commit (even when handed the frames), the others carry
 * on; a joiner racing the removal is refused with MUST_INCLUDE_PENDING_REMOVALS and gets in
 * after the commit; a redaction reaches the clients as a REDACTION notice.
 */
import { World } from "@kalandra/harness";
import { decodePayload, Flag, FrameHeader, HEADER_SIZE, Opcode } from "@kalandra/proto";
import { afterEach, describe, expect, it } from "vitest";

const te = new TextEncoder();

/** The commit request waits this long (virtual ms): a joiner gets to race the removal. */
const COMMIT_DELAY_MS = 60_000;

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** Runs the virtual clock until `cond` holds, at most `budgetMs` of virtual time. */
async function until(w: World, what: string, cond: () => boolean, budgetMs = 30_000) {
  await w.runFor(budgetMs, cond);
  if (!cond()) throw new Error(`${what}: not within ${budgetMs} virtual ms`);
}

const texts = (w: World, name: string, roomId: bigint) =>
  [...(w.client(name).delivered.get(roomId)?.values() ?? [])].map((d) => d.text);

describe("moderation with real client cores on the virtual clock", () => {
  it("a kicked member decrypts nothing sent after its removal; the others continue; the eviction race", async () => {
    const w = await World.create({
      seed: 1n,
      clients: ["alice", "bob", "carol", "dave"],
      hubLimits: { commitDelayMs: COMMIT_DELAY_MS, commitDeadlineMs: 2000 },
    });
    world = w;
    await w.startClients();
    const alice = () => w.api("alice");
    // Open: dave, not a member, joins by external commit (DESIGN §10 room access).
    const roomId = await w.perform("create", () =>
      alice().createRoom(undefined, { joinRule: "open" }),
    );
    // bob and carol are added, dave joins the open room (room_access holds every leaf against this).
    w.access.admit(roomId, ["bob", "carol", "dave"]);
    await w.perform("add bob, carol", () => alice().addMembers(roomId, ["bob", "carol"]));
    await until(w, "bob and carol joined", () =>
      ["bob", "carol"].every((n) => w.api(n).room(roomId)?.epoch === 1n),
    );
    await w.perform("first message", () => alice().send(roomId, te.encode("before the kick")));
    await until(w, "carol got it", () => texts(w, "carol", roomId).includes("before the kick"));

    // Kick carol: the hub proposes her removal; its commit request waits COMMIT_DELAY_MS.
    const moderation = w.hub.moderation!;
    const kickedAt = w.now;
    const kicked = await w.perform("kick carol", () =>
      moderation.kick(roomId, "carol", "spam", "admin:test"),
    );
    expect(kicked).toMatchObject({ ok: true, leaves: [2] });

    // A joiner racing the removal: every attempt refused with MUST_INCLUDE_PENDING_REMOVALS,
    // until the client gives up; all of it before the hub even asks for the commit.
    const refusals: string[] = [];
    w.sinkObservers.push((target, frame) => {
      const h = FrameHeader.view(frame);
      if (target.kind === "session" && target.sessionId.startsWith("dave#")) {
        if ((h.flags & Flag.ERROR) !== 0) {
          refusals.push(decodePayload(Opcode.ERROR, frame.subarray(HEADER_SIZE)).name);
        }
      }
    });
    await expect(w.perform("dave joins", () => w.api("dave").joinExternal(roomId))).rejects.toThrow(
      /retries_exhausted/,
    );
    expect(w.now - kickedAt).toBeLessThan(BigInt(COMMIT_DELAY_MS));
    expect(refusals.length).toBeGreaterThan(1);
    expect(new Set(refusals)).toEqual(new Set(["MUST_INCLUDE_PENDING_REMOVALS"]));
    expect(w.api("carol").room(roomId)?.epoch).toBe(1n);

    // The commit delay passes; a member the hub asks commits the removal.
    await until(
      w,
      "carol removed, alice and bob at epoch 2",
      () =>
        w.client("carol").removedAt.has(roomId) &&
        ["alice", "bob"].every((n) => w.api(n).room(roomId)?.epoch === 2n),
      2 * COMMIT_DELAY_MS,
    );
    // After the removal commit the joiner gets in.
    await w.perform("dave joins again", () => w.api("dave").joinExternal(roomId));
    expect(w.api("dave").room(roomId)?.members).not.toContain("carol");
    expect(alice().room(roomId)?.members).not.toContain("carol");

    // After the removal: alice sends; bob and dave read it. Carol is not sent it, and even
    // handed every frame sent after her removal she decrypts none of them.
    const carolFrames: Uint8Array[] = [];
    w.sinkObservers.push((target, frame) => {
      if (target.kind === "members" && FrameHeader.view(frame).opcode === Opcode.APP_MESSAGE) {
        carolFrames.push(frame);
      }
    });
    const carolSeen = w.client("carol").seen.size;
    await w.perform("after the kick", () => alice().send(roomId, te.encode("after the kick")));
    await until(w, "bob and dave got it", () =>
      ["bob", "dave"].every((n) => texts(w, n, roomId).includes("after the kick")),
    );
    expect(w.client("carol").seen.size).toBe(carolSeen);
    expect(carolFrames).toHaveLength(1);
    const rejectedBefore = w.client("carol").rejected.length;
    // Each delivery is one event, run to completion (client included) before the next.
    for (const f of carolFrames) w.network.send("hub", "carol", f);
    await until(w, "carol was handed the frame", () => w.client("carol").seen.size > carolSeen);
    expect(texts(w, "carol", roomId)).toEqual(["before the kick"]);
    expect(w.client("carol").rejected.length).toBe(rejectedBefore);
    expect(w.api("carol").room(roomId)?.phase).toEqual({ kind: "removed" });
    await expect(
      w.perform("carol sends", () => w.api("carol").send(roomId, te.encode("let me in"))),
    ).rejects.toThrow(/removed/);

    // The others continue without interruption.
    await w.perform("bob sends", () => w.api("bob").send(roomId, te.encode("bob still here")));
    await until(w, "alice got bob's", () => texts(w, "alice", roomId).includes("bob still here"));

    // Redaction reaches the members as a REDACTION notice and erases the payload.
    const idx = await w.perform("secret", () => w.api("bob").send(roomId, te.encode("oops")));
    await until(w, "alice got the secret", () => texts(w, "alice", roomId).includes("oops"));
    const redactions: bigint[] = [];
    alice().on((e) => {
      if (e.type === "redaction" && e.roomId === roomId) redactions.push(e.logIndex);
    });
    const red = await w.perform("redact", () =>
      moderation.redact(roomId, idx, "leak", "admin:test"),
    );
    expect(red.ok).toBe(true);
    await until(w, "alice saw the redaction", () => redactions.includes(idx));
    expect(w.hub.lmdb?.readRange(roomId, idx, 1)[0]?.payload).toBeNull();
    // LMDB records the erasure itself too (storage/erasure.ts), then moderation its redaction.
    expect(w.hub.disk?.readAudit().map((a) => a.kind)).toEqual(["kick", "secure_delete", "redact"]);
    expect(w.violations).toEqual([]);
  }, 120_000);
});
