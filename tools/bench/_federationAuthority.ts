/**
 * Room-authority figures of `pnpm bench federation` (federation.ts header): planned
 * transfers under load.
 */
import type { SpawnedHub } from "../loadgen/hub.js";
import { admin, type Member, member, roomWith } from "./_federationHubs.js";

const log = (s: string) => process.stderr.write(`[federation] ${s}\n`);

export /**
 * Planned transfers under load (see the header): the room moves A → B → A … while both
 * members send; returns per-round figures and what was acknowledged and seen.
 */
async function transfers(hubs: Record<string, SpawnedHub>, n: number) {
  const alice = await member("erin@a.example", hubs["a.example"] as SpawnedHub);
  const bob = await member("frank@b.example", hubs["b.example"] as SpawnedHub);
  try {
    const room = await roomWith(alice, [{ m: bob, id: "frank@b.example" }]);
    let running = true;
    let sent = 0;
    const loops = [alice, bob].map(async (m, k) => {
      for (let i = 0; running && i < 100_000; i++) {
        await m.send(room, `t${k}-${i}`);
        sent++;
      }
    });
    const answerMs: number[] = [];
    const firstWriteMs: number[] = [];
    let authority = "a.example";
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setTimeout(r, 300)); // load at the current authority
      const to = authority === "a.example" ? "b.example" : "a.example";
      const t0 = performance.now();
      const r = await admin(hubs[authority] as SpawnedHub, "/admin/rooms/transfer", {
        room: room.toString(),
        to,
      });
      const answered = performance.now();
      if (r.status !== 200) throw new Error(`transfer ${i + 1} refused: ${JSON.stringify(r.body)}`);
      const deadline = answered + 30_000;
      let first: number | undefined;
      while (first === undefined && performance.now() < deadline) {
        first = [...alice.acks, ...bob.acks].find((a) => a.at >= answered)?.at;
        if (first === undefined) await new Promise((res) => setTimeout(res, 2));
      }
      if (first === undefined) throw new Error(`no write accepted by ${to} within 30 s`);
      answerMs.push(answered - t0);
      firstWriteMs.push(first - t0);
      log(
        `transfer ${i + 1} ${authority} → ${to}: answered ${(answered - t0).toFixed(1)} ms, first write at the new authority ${(first - t0).toFixed(1)} ms`,
      );
      authority = to;
    }
    running = false;
    await Promise.all(loops);
    const bodies = (m: Member) => [...m.arrived.keys()].filter((b) => b.startsWith("t"));
    const seenBy = (m: Member) => new Set(bodies(m));
    const [sa, sb] = [seenBy(alice), seenBy(bob)];
    const settleBy = performance.now() + 30_000;
    while ((sa.size < sent || sb.size < sent) && performance.now() < settleBy) {
      await new Promise((res) => setTimeout(res, 20));
      for (const x of bodies(alice)) sa.add(x);
      for (const x of bodies(bob)) sb.add(x);
    }
    const seen = [...sa].filter((x) => sb.has(x)).length;
    return {
      answerMs: answerMs.sort((x, y) => x - y),
      firstWriteMs: firstWriteMs.sort((x, y) => x - y),
      acked: sent,
      seen,
    };
  } finally {
    alice.close();
    bob.close();
  }
}
