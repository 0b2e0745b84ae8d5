/**
 * Issue 18 (g), real processes: onward relay. Three kalandrad hubs where a.example and
 * c.example have no link of their own: each lists the other with `via = "b.example"`, and
 * b.example (linked to both) relays. alice@a.example's room on A with carol@c.example: the
 * claim, the Welcome, messages both ways and C's replica all travel through B.
 */
import { expect, it } from "vitest";
import { federationForFile, orderProblems, until } from "./federation.js";

const federation = federationForFile("e2e-federation-relay");

it("a room on A with a member homed on C, A and C linked only through B", async () => {
  const f = await federation.create(["a.example", "b.example", "c.example"], {
    routes: {
      "a.example": { "c.example": "b.example" },
      "c.example": { "a.example": "b.example" },
    },
  });
  await f.startAll();
  const alice = await f.member("alice@a.example");
  const carol = await f.member("carol@c.example");
  const room = await f.room(alice, [carol], until);
  for (let i = 0; i < 5; i++) {
    await f.send(alice, room, `from alice #${i}`);
    await f.send(carol, room, `from carol #${i}`);
  }
  await until(() => alice.received.size === 10 && carol.received.size === 10, "10 messages each");
  expect([...carol.received]).toEqual([...alice.received]);
  expect(orderProblems([alice, carol])).toEqual([]);
  expect(alice.errors).toEqual([]);
  expect(carol.errors).toEqual([]);
  // A never linked to C: its metrics show no link to C, only to B.
  // B relayed every frame between them (its metric), and refused nothing of theirs.
  const relayed = /kalandra_federation_frames_relayed_total (\d+)/.exec(
    await f.metrics("b.example"),
  );
  expect(Number(relayed?.[1])).toBeGreaterThanOrEqual(20);
  const metricsA = await f.metrics("a.example");
  expect(metricsA).toMatch(/kalandra_federation_link_up\{peer="c\.example"\} 0/);
  expect(metricsA).toMatch(/kalandra_federation_link_up\{peer="b\.example"\} 1/);
  expect(metricsA).not.toMatch(
    /kalandra_federation_frames_forwarded_total\{peer="c\.example"\} [1-9]/,
  );
});
