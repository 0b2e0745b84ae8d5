/**
 * The invariants of the federation worlds (issue 18), checked every 2 s of virtual time
 * and at the end. Recorded as they happen (fedWorld.ts): `one_authority_per_term`,
 * `one_certificate_per_term`, `ack_unique`, `served_prefix`. Checked here:
 *
 * | invariant    | meaning                                                                       |
 * | ------------ | ----------------------------------------------------------------------------- |
 * | `log_shape`  | every hub's log has each entry at its own index, terms never decrease, and no |
 * |              | request is sequenced twice; at the end every entry's position signature holds |
 * | `no_fork`    | all hubs agree on every committed position they share ("majority")           |
 * | `acked_lost` | every acknowledged write is in the current authority's log at its index, and |
 * |              | in every hub's log at the end ("majority"; counted as `lost_acked` in "local") |
 * | `served_prefix` | what a hub served its devices is the final log's entry at that index       |
 * | `convergence` | after healing, every hub holds the same log, all committed, one authority   |
 */
import { verifyEntry } from "@kalandra/server";
import { FED_ROOM, type FedHub, sameEntry } from "./fedHub.js";
import type { FedWorld } from "./fedWorld.js";

const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b);

function committed(h: FedHub): bigint {
  const n = h.store.length();
  const c = h.engine?.commitLength ?? 0n;
  return c < n ? c : n;
}

function shapeProblem(h: FedHub): string | undefined {
  const seen = new Set<string>();
  let lastTerm = 0n;
  for (let i = 0n; i < h.store.length(); i++) {
    const e = h.store.entry(i)!;
    if (e.index !== i) return `${h.name} holds entry ${e.index} at position ${i}`;
    if (e.term < lastTerm) return `${h.name}: term ${e.term} after ${lastTerm} at ${i}`;
    if (seen.has(e.request)) return `${h.name}: ${e.request} sequenced twice (again at ${i})`;
    seen.add(e.request);
    lastTerm = e.term;
  }
  return undefined;
}

/**
 * The live hub sequencing in the highest term any hub knows (the room's authority now), if
 * any: a deposed authority that has not heard of its successor yet is not it.
 */
export function currentAuthority(w: FedWorld): FedHub | undefined {
  let top = 0n;
  for (const h of w.hubs.values()) {
    const t = h.store.record().term;
    if (t > top) top = t;
  }
  for (const h of w.hubs.values()) {
    if (h.engine?.sequencing === true && h.engine.record.term === top) return h;
  }
  return undefined;
}

export function checkFedSafety(w: FedWorld): void {
  const up = [...w.hubs.values()].filter((h) => h.up);
  for (const h of up) {
    const problem = shapeProblem(h);
    if (problem !== undefined) w.violation("log_shape", problem);
  }
  if (w.ackQuorum !== "majority") return;
  for (let a = 0; a < up.length; a++) {
    for (let b = a + 1; b < up.length; b++) {
      const [x, y] = [up[a]!, up[b]!];
      const shared = minBig(committed(x), committed(y));
      for (let i = 0n; i < shared; i++) {
        if (!sameEntry(x.store.entry(i)!, y.store.entry(i)!)) {
          w.violation("no_fork", `${x.name} and ${y.name} committed different entries at ${i}`);
          break;
        }
      }
    }
  }
  const auth = currentAuthority(w);
  if (auth === undefined) return;
  for (const [request, index] of w.acked) {
    const e = auth.store.entry(index);
    if (e?.request !== request) {
      w.violation(
        "acked_lost",
        `${request} acknowledged at ${index}; authority ${auth.name} holds ${e?.request ?? "nothing"} there`,
      );
    }
  }
}

/** Every hub up, holding the same fully committed log under one authority, nothing pending. */
export function fedConverged(w: FedWorld): string | undefined {
  const hubs = [...w.hubs.values()];
  const down = hubs.filter((h) => !h.up);
  if (down.length > 0) return `${down.map((h) => h.name).join(",")} down`;
  const auth = currentAuthority(w);
  if (auth === undefined) return "no hub sequencing";
  const n = auth.store.length();
  for (const h of hubs) {
    const rec = h.engine!.record;
    if (rec.authority !== auth.name || rec.term !== auth.engine!.record.term) {
      return `${h.name} at term ${rec.term} under ${rec.authority}, authority ${auth.name}`;
    }
    if (h.store.length() !== n || committed(h) !== n) {
      return `${h.name} holds ${h.store.length()} (committed ${committed(h)}) of ${n}`;
    }
    for (let i = 0n; i < n; i++) {
      if (!sameEntry(h.store.entry(i)!, auth.store.entry(i)!)) return `${h.name} differs at ${i}`;
    }
    if (h.pendingWrites() > 0) return `${h.name} has ${h.pendingWrites()} writes unacknowledged`;
  }
  return undefined;
}

export function checkFedFinal(w: FedWorld): void {
  const auth = currentAuthority(w);
  if (auth === undefined) return;
  const keys = (d: string) => w.hubs.get(d)?.signer.publicKey;
  for (let i = 0n; i < auth.store.length(); i++) {
    const e = auth.store.entry(i)!;
    if (!verifyEntry(FED_ROOM, e, keys)) {
      w.violation("log_shape", `entry ${i} of ${auth.name}: the position signature fails`);
      break;
    }
  }
  let lost = 0;
  for (const [request, index] of w.acked) {
    if (auth.store.entry(index)?.request === request) continue;
    lost++;
    if (w.ackQuorum === "majority")
      w.violation("acked_lost", `${request} at ${index} is not in the final log`);
  }
  if (lost > 0) w.note("lost_acked", lost);
  if (w.lostServed > 0) w.note("lost_served", w.lostServed);
  for (const h of w.hubs.values()) {
    for (const [index, e] of h.served) {
      const final = auth.store.entry(index);
      if (final !== undefined && sameEntry(final, e)) continue;
      if (w.ackQuorum === "majority") {
        w.violation(
          "served_prefix",
          `${h.name} served ${e.request} at ${index}; the room holds ${final?.request ?? "nothing"}`,
        );
        break;
      }
    }
  }
}
