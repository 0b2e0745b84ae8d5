import { describe, expect, it } from "vitest";
import { World } from "../src/index.js";

describe("smoke", () => {
  it("creates a room, adds two members, chats", async () => {
    const w = await World.create({ seed: 1n, clients: ["alice", "bob", "carol"] });
    try {
      const t0 = Date.now();
      await w.startClients();
      console.log("started", Date.now() - t0, "ms", w.scheduler.now);
      const room = await w.perform("create", () => w.api("alice").createRoom());
      await w.perform("add", () => w.api("alice").addMembers(room, ["bob", "carol"]));
      console.log("added", Date.now() - t0, "ms");
      await w.runFor(2000);
      await w.perform("send", () => w.api("bob").send(room, new TextEncoder().encode("hi")));
      await w.runFor(5000);
      for (const c of w.clients.values())
        console.log(
          c.name,
          c.client?.room(room)?.epoch,
          c.client?.room(room)?.phase,
          [...(c.delivered.get(room)?.values() ?? [])].map((d) => d.text),
        );
      console.log(w.violations, w.trace.count, w.scheduler.eventsRun, Date.now() - t0);
      expect(w.violations).toEqual([]);
    } finally {
      await w.close();
    }
  });
});
