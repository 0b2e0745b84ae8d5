/**
 * Issue 18, real processes: failover. Three kalandrad hubs with `ack_quorum = "majority"`
 * and `failover_after_ms = 1000`; a room on A with members homed on A, B and C, all
 * sending. A is SIGKILLed: after `failover_after_ms` a voter proposes itself in term 1 (or
 * a later one after a split vote) and the others elect it; bob's and carol's sends (refused PEER_UNREACHABLE by their hubs
 * meanwhile, retried by the client core) are accepted by the new authority. Nothing
 * acknowledged is lost: every acknowledged message — before and after the kill — is at its
 * log index on both surviving members, one order. A restarted on its data directory learns
 * the higher term from its peers and follows the new authority as a replica.
 */
import { expect, it } from "vitest";
import { federationForFile, load, sleep, survivorProblems, until } from "./federation.js";

const federation = federationForFile("e2e-federation-failover");

it("SIGKILL of the authority: a voter takes over, nothing acknowledged is lost", async () => {
  const f = await federation.create(["a.example", "b.example", "c.example"], {
    env: {
      KALANDRA_SERVER__SHARD_RUNTIME: "in-process",
      KALANDRA_DATABASE__SYNC: "full",
      KALANDRA_FEDERATION__ACK_QUORUM: "majority",
      KALANDRA_FEDERATION__FAILOVER_AFTER_MS: "1000",
    },
  });
  await f.startAll();
  const {
    members: [alice, bob, carol],
    room,
  } = await f.threeMemberRoom();
  const roomId = room.toString();

  const traffic = load(f, [alice, bob, carol], room, "before");
  await until(() => [alice, bob, carol].every((m) => m.sent.size >= 5), "5 acknowledged each");
  await f.kill("a.example");
  const killedAt = performance.now();
  const ackedBefore = Math.max(
    ...[alice, bob, carol].flatMap((m) => [...m.sent.values()]).map(Number),
  );
  // Bob and carol keep sending: their requests wait out the failover and land at the new authority.
  const before = [bob, carol].map((m) => m.sent.size);
  await until(
    () => [bob, carol].every((m, i) => m.sent.size >= (before[i] ?? 0) + 5),
    "5 more acknowledged each after the failover",
  ).catch((e: unknown) => {
    // What the survivors' clients saw, for the report of a stalled failover.
    const seen = { before, now: [bob.sent.size, carol.sent.size], failures: traffic.failures };
    throw new Error(
      `${String(e)}: ${JSON.stringify(seen, (_k, v) => (typeof v === "bigint" || v instanceof Error ? String(v) : v))}`,
    );
  });
  // Alice's hub is gone: her loop ends with whatever her client gives up on; not a failure here.
  alice.client.close();
  alice.conn.close();
  await traffic.stop();
  const firstAfter = Math.min(
    ...[bob, carol].flatMap((m) =>
      m.acks.filter((a) => Number(a.index) > ackedBefore).map((a) => a.at),
    ),
  );

  const survivors = [bob, carol];
  const acked = new Set([alice, bob, carol].flatMap((m) => [...m.sent.values()]));
  expect(await survivorProblems([alice, bob, carol], survivors)).toEqual([]);
  // Split votes may take a term or two more: both survivors name one authority in one term.
  const { authority, term } = await f.agreedAuthority(["b.example", "c.example"], roomId);
  expect(["b.example", "c.example"]).toContain(authority);
  expect(BigInt(term)).toBeGreaterThanOrEqual(1n);

  // The deposed authority comes back: it learns term 1 and follows as a replica.
  await f.start("a.example");
  const deadline = Date.now() + 30_000;
  let back = await f.admin("a.example", "GET", `/admin/rooms/${roomId}/authority`);
  while (back.body.authority !== authority && Date.now() < deadline) {
    await sleep(100);
    back = await f.admin("a.example", "GET", `/admin/rooms/${roomId}/authority`);
  }
  expect(back.body).toMatchObject({ authority, term, role: "replica" });
  console.log(
    JSON.stringify({ failover_ms: Math.round(firstAfter - killedAt), acked: acked.size }),
  );
});
