/**
 * Random schedules of concurrent operations (fast-check, fixed seed, few runs: each run is
 * a whole multi-client scenario). After every schedule: the members agree on epoch and
 * tree hash with the hub, every member read the same messages in the same (log) order,
 * and a member removed along the way read nothing sent after its removal.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TestClient } from "../support/world.js";
import { text, World, waitFor } from "../support/world.js";

type Op =
  | { kind: "send"; who: number }
  | { kind: "update"; who: number }
  | { kind: "remove"; who: number; target: number }
  | { kind: "kick"; target: number };

const N = 5;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("send" as const), who: fc.nat(N - 1) }),
  fc.record({ kind: fc.constant("update" as const), who: fc.nat(N - 1) }),
  fc.record({ kind: fc.constant("remove" as const), who: fc.nat(N - 1), target: fc.nat(N - 1) }),
  fc.record({ kind: fc.constant("kick" as const), target: fc.nat(N - 1) }),
);

describe("random concurrent schedules", () => {
  it("keep members in agreement", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 5 }),
        async (rounds) => {
          const w = await World.create(`prop${run++}`);
          const names = Array.from({ length: N }, (_, i) => `m${i}`);
          const cs = await Promise.all(names.map((u) => w.client(u)));
          const [owner] = cs as [TestClient];
          const room = await owner.client.createRoom();
          await owner.client.addMembers(room, names.slice(1));
          await waitFor(() => cs.every((c) => c.client.room(room)?.epoch === 1n), "all joined");
          const alive = () => cs.filter((c) => c.client.room(room)?.phase.kind !== "removed");
          let sent = 0;
          for (const round of rounds) {
            await Promise.all(
              round.map(async (op) => {
                const who = op.kind === "kick" ? undefined : cs[op.who];
                if (who !== undefined && who.client.room(room)?.phase.kind === "removed") return;
                const target =
                  op.kind === "remove" || op.kind === "kick" ? cs[op.target] : undefined;
                // Keep at least two members so the room stays observable.
                if (target !== undefined && (alive().length <= 2 || target === owner)) return;
                try {
                  if (op.kind === "send" && who) {
                    await who.client.send(room, text(`msg${sent++}`));
                  } else if (op.kind === "update" && who) {
                    await who.client.update(room);
                  } else if (op.kind === "remove" && who && target && target !== who) {
                    await who.client.removeMembers(room, [target.userId]);
                  } else if (op.kind === "kick" && target) {
                    await w.relay.kick(room, target.userId);
                  }
                } catch (e) {
                  // Only losing to a removal (done or pending) is an acceptable failure.
                  if (!/removed|removal_pending/.test(String(e))) throw e;
                }
              }),
            );
          }
          const head = () => BigInt(w.relay.rooms.get(room)?.log.length ?? -1);
          await waitFor(
            () =>
              (w.relay.rooms.get(room)?.pending.length ?? 1) === 0 &&
              alive().every((c) => c.client.room(room)?.nextLogIndex === head()),
            "members at the head",
          );
          const living = alive();
          const hub = Buffer.from(w.relay.treeHash(room) ?? []).toString("hex");
          for (const c of living) {
            expect(Buffer.from(c.client.room(room)?.treeHash ?? []).toString("hex")).toBe(hub);
            expect(c.texts(room)).toEqual(owner.texts(room));
          }
          // A removed member's messages are a prefix of what the survivors read.
          for (const c of cs.filter((x) => !living.includes(x))) {
            const mine = c.texts(room);
            expect(owner.texts(room).slice(0, mine.length)).toEqual(mine);
          }
          if (process.env.PROP_VERBOSE)
            console.log(
              `epoch ${owner.client.room(room)?.epoch} sent ${sent} alive ${living.length}`,
            );
          for (const c of cs) c.client.close();
        },
      ),
      {
        numRuns: Number(process.env.PROP_RUNS ?? 6),
        seed: Number(process.env.PROP_SEED ?? 4242),
        endOnFailure: true,
      },
    );
  }, 180_000);
});
