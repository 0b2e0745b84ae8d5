/**
 * Failover figures of `pnpm bench federation` (federation.ts header): three kalandrad
 * processes with `ack_quorum = "majority"` and `failover_after_ms = 1000` (a failover needs
 * a majority of the room's voters alive, so two hubs cannot show it). Each round a room is
 * created on the hub about to die, with a member homed on each hub, all three sending one
 * message after another; that hub is SIGKILLed, and
 *
 * - `failover_ms`: from the SIGKILL to the first acknowledgement a surviving member gets
 *   for a message past every index acknowledged before the kill (a write the new authority
 *   accepted; the clients' retry delays included);
 * - `acked_lost`: acknowledged messages (the killed hub's member's included) that a
 *   surviving member never decrypted (must be 0 in majority mode).
 *
 * The killed hub is restarted on its data directory before the next round, which kills the
 * next hub in turn, so every hub is killed once as an authority in three rounds.
 */
import type { SpawnedHub } from "../loadgen/hub.js";
import { type Member, member, roomWith, type Spec, start } from "./_federationHubs.js";

const log = (s: string) => process.stderr.write(`[federation] ${s}\n`);

/** What every hub of the failover rounds runs with (on top of `start`'s settings). */
export const FAILOVER_ENV = {
  KALANDRA_FEDERATION__ACK_QUORUM: "majority",
  KALANDRA_FEDERATION__FAILOVER_AFTER_MS: "1000",
};

export interface FailoverFigures {
  failoverMs: number[];
  acked: number;
  lost: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until `pred` holds; false when `ms` passed first. */
async function waitFor(pred: () => boolean, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > until) return false;
    await sleep(5);
  }
  return true;
}

/** `n` failover rounds over the hubs of `specs` (three), started here and stopped after. */
export async function failovers(specs: Spec[], n: number): Promise<FailoverFigures> {
  const hubs = new Map<string, SpawnedHub>();
  for (const s of [...specs].reverse()) hubs.set(s.domain, await start(s, specs, FAILOVER_ENV));
  const out: FailoverFigures = { failoverMs: [], acked: 0, lost: 0 };
  try {
    for (let round = 0; round < n; round++) {
      const victim = specs[round % specs.length] as Spec;
      const r = await failoverRound(hubs, specs, victim, round);
      out.failoverMs.push(r.failoverMs);
      out.acked += r.acked;
      out.lost += r.lost;
      log(
        `failover ${round + 1}: ${victim.domain} killed, first write at the new authority ${r.failoverMs.toFixed(1)} ms, ${r.acked} acknowledged, ${r.lost} lost`,
      );
      hubs.set(victim.domain, await start(victim, specs, FAILOVER_ENV));
    }
  } finally {
    for (const h of hubs.values()) await h.stop();
  }
  out.failoverMs.sort((x, y) => x - y);
  return out;
}

async function failoverRound(
  hubs: Map<string, SpawnedHub>,
  specs: Spec[],
  victim: Spec,
  round: number,
): Promise<{ failoverMs: number; acked: number; lost: number }> {
  const hub = (d: string) => hubs.get(d) as SpawnedHub;
  const ids = [victim, ...specs.filter((s) => s !== victim)].map((s) => `f${round}@${s.domain}`);
  const members = await Promise.all(ids.map((id) => member(id, hub(id.split("@")[1] as string))));
  const [creator, ...survivors] = members as [Member, ...Member[]];
  try {
    const room = await roomWith(
      creator,
      survivors.map((m, i) => ({ m, id: ids[i + 1] as string })),
    );
    let running = true;
    /** Acknowledged bodies with their log index. */
    const acked = new Map<string, bigint>();
    const loops = members.map(async (m, k) => {
      for (let i = 0; running && i < 100_000; i++) {
        const body = `r${round}-${k}-${i}`;
        try {
          await m.send(room, body);
        } catch {
          return; // the killed hub's member: its client gives up, nothing to count
        }
        acked.set(body, m.acks.at(-1)?.index ?? -1n);
      }
    });
    if (!(await waitFor(() => members.every((m) => m.acks.length >= 5), 30_000))) {
      throw new Error("failover round: the members did not get 5 acknowledgements each in 30 s");
    }
    const victimHub = hub(victim.domain);
    victimHub.child.kill("SIGKILL");
    const killedAt = performance.now();
    await victimHub.exit;
    hubs.delete(victim.domain);
    creator.close();
    const before = Math.max(...members.flatMap((m) => m.acks.map((a) => Number(a.index))));
    const atKill = survivors.map((m) => m.acks.length);
    let first: number | undefined;
    // Until each survivor has 3 more acknowledgements: the room is written again from both.
    await waitFor(() => {
      first = survivors
        .flatMap((m) => m.acks)
        .filter((a) => a.at >= killedAt && Number(a.index) > before)
        .reduce<number | undefined>((x, a) => (x === undefined || a.at < x ? a.at : x), first);
      return (
        first !== undefined && survivors.every((m, i) => m.acks.length >= (atKill[i] ?? 0) + 3)
      );
    }, 60_000);
    running = false;
    await Promise.all(loops);
    if (first === undefined)
      throw new Error(`no write accepted within 60 s of killing ${victim.domain}`);
    const missing = () =>
      [...acked.keys()].filter((b) => survivors.some((m) => !m.arrived.has(b))).length;
    await waitFor(() => missing() === 0, 30_000);
    return { failoverMs: first - killedAt, acked: acked.size, lost: missing() };
  } finally {
    for (const m of members) m.close();
  }
}
