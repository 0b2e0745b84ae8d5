/**
 * Issue 18, real processes: redactions after a transfer (docs/federation.md "Redactions
 * across hubs"). Two kalandrad hubs (worker shards); alice's room on A with bob@b.example.
 * Messages sequenced by A are replicated to B; the operator moves the room to B. Then:
 * the old authority A refuses a redaction (NOT_AUTHORITY, nothing erased), B's operator
 * redacts one message (`POST /admin/redact` on B), and alice, the room's owner homed on A,
 * redacts another in band (forwarded to B). Each message is then erased on both hubs: what
 * each hub serves of the log (a SYNC_REQUEST of a member homed there) holds the entry's
 * header without its payload, the other messages are served whole, both clients are told,
 * and both copies each hub holds with worker shards are erased (their audit records): when
 * the room comes back to A, neither hub serves an erased message again.
 */
import { Opcode } from "@kalandra/proto";
import { expect, it } from "vitest";
import { federationForFile, type Member, servedLog, sleep, until } from "./federation.js";

const federation = federationForFile("e2e-federation-redact");

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}` : x));

/** The room's application messages as `m`'s home hub serves them: whole, and erased. */
async function servedMessages(m: Member, room: bigint) {
  const apps = (await servedLog(m, room)).filter((e) => e.opcode === Opcode.APP_MESSAGE);
  return {
    whole: apps.filter((e) => e.payload !== null).map((e) => e.index),
    erased: apps.filter((e) => e.payload === null).map((e) => e.index),
  };
}

/**
 * Polls (bounded: 20 s) until `m`'s home hub serves exactly these messages whole and
 * erased. (Majority mode: a hub serves a page up to the commit point it knows, which a new
 * term's authority and its replicas learn anew after a transfer; until then it is short.)
 */
async function servedUntil(m: Member, room: bigint, whole: bigint[], erased: bigint[]) {
  const want = json({ whole, erased });
  let seen = "";
  for (let i = 0; i < 200; i++) {
    seen = json(await servedMessages(m, room));
    if (seen === want) return;
    await sleep(100);
  }
  throw new Error(`${m.hub} serves ${seen}, expected ${want}`);
}

/** The log indexes `domain` records as erased in the room, over all its audit chains. */
async function erasures(
  f: Awaited<ReturnType<typeof federation.create>>,
  domain: string,
  roomId: string,
) {
  const r = await f.admin(domain, "GET", "/admin/audit?limit=10000");
  const chains = r.body.chains as {
    chain: string;
    records: { kind: string; room?: string; detail?: { log_index?: string } }[];
  }[];
  return chains.flatMap((c) =>
    c.records
      .filter((x) => x.kind === "secure_delete" && x.room === roomId)
      .map((x) => `${c.chain}:${x.detail?.log_index}`),
  );
}

it("after a transfer A → B, redactions erase the message on both hubs' stores", async () => {
  const f = await federation.create(["a.example", "b.example"], {
    env: { KALANDRA_FEDERATION__ENLIST_HUBS: "true" },
  });
  await f.startAll();
  const alice = await f.member("alice@a.example");
  const bob = await f.member("bob@b.example");
  const room = await f.room(alice, [bob], until);
  const roomId = room.toString();
  // A enlists B (a commit to epoch 2) as soon as bob joins: the first sends race it (refused
  // STALE_EPOCH while, in "majority" mode, the commit is not served until B persisted it; the
  // client waits for it, client/state/intents.ts).
  const texts = ["keep 1", "by the operator", "keep 2", "by the owner", "keep 3"];
  const at: bigint[] = [];
  for (const [i, t] of texts.entries()) at.push(await f.send(i % 2 === 0 ? alice : bob, room, t));
  const [keep1, byOperator, keep2, byOwner, keep3] = at as [bigint, bigint, bigint, bigint, bigint];
  await until(
    () => [alice, bob].every((m) => texts.every((t, i) => m.received.get(at[i] as bigint) === t)),
    "both members read every message",
  );
  await servedUntil(bob, room, at, []); // B's replica holds them all

  const moved = await f.admin("a.example", "POST", "/admin/rooms/transfer", {
    room: roomId,
    to: "b.example",
    reason: "e2e",
  });
  expect(moved).toMatchObject({ status: 200, body: { ok: true, term: "1" } });

  // Only the room's authority erases: A, now a replica, refuses before erasing anything.
  const refused = await f.admin("a.example", "POST", "/admin/redact", {
    room: roomId,
    index: byOperator.toString(),
    reason: "e2e",
  });
  expect(refused.body).toMatchObject({ ok: false, error: "NOT_AUTHORITY" });
  await servedUntil(alice, room, at, []);

  const redacted = await f.admin("b.example", "POST", "/admin/redact", {
    room: roomId,
    index: byOperator.toString(),
    reason: "e2e",
  });
  expect(redacted.status, JSON.stringify(redacted.body)).toBe(200);
  // The owner's in-band REDACT goes from A to the authority B like any request.
  await alice.client.redact(room, byOwner, "mine to take back");

  const gone = [byOperator, byOwner];
  await until(
    () => [alice, bob].every((m) => gone.every((i) => m.redacted.has(i))),
    "both clients told of both redactions",
  );
  // A serves its replica, B its own log: the same two erased, the rest whole.
  for (const m of [alice, bob]) await servedUntil(m, room, [keep1, keep2, keep3], gone);
  // Each hub holds two copies of the log: its worker shard's (A's from when it sequenced
  // the room, B's since it does) and its main storage's replica (A's since the move, B's from
  // before it). Both are erased on both hubs, each with its audit record.
  const both = gone.flatMap((i) => [`hub:${i}`, `shard-0:${i}`]).sort();
  expect((await erasures(f, "a.example", roomId)).sort()).toEqual(both);
  expect((await erasures(f, "b.example", roomId)).sort()).toEqual(both);

  // The room comes back to A: A serves the log it sequences again (its shard's copy, continued),
  // B its replica. Neither brings an erased message back.
  const back = await f.admin("b.example", "POST", "/admin/rooms/transfer", {
    room: roomId,
    to: "a.example",
    reason: "e2e",
  });
  expect(back).toMatchObject({ status: 200, body: { ok: true, term: "2" } });
  const after = await f.send(bob, room, "after the move back");
  for (const m of [alice, bob]) await servedUntil(m, room, [keep1, keep2, keep3, after], gone);
  for (const m of [alice, bob]) expect(m.errors, m.id).toEqual([]);
});
