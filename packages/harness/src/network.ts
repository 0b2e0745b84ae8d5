/**
 * The in-memory lossy network between simulated nodes. Each directed link has its own
 * faults: loss (up to 50 %), duplication (including late duplicates replayed from an old
 * connection), reordering, latency with jitter; links can be partitioned (symmetric or one
 * way) and held (messages queue until released). Every decision draws from the network's
 * seeded stream and is written to the trace.
 */

import type { SeededRng } from "./rng.js";
import type { Scheduler } from "./scheduler.js";

export interface LinkFaults {
  /** Probability a message is dropped, 0..0.5. */
  loss: number;
  /** Probability a message is delivered twice (the copy arrives later). */
  duplicate: number;
  /** Probability a message is held back long enough to overtake later ones. */
  reorder: number;
  latencyMs: number;
  jitterMs: number;
  /** Probability a delivered message is also kept and replayed much later (old connection). */
  lateReplay: number;
}

export const PERFECT_LINK: LinkFaults = {
  loss: 0,
  duplicate: 0,
  reorder: 0,
  latencyMs: 1,
  jitterMs: 0,
  lateReplay: 0,
};

export type Receiver = (from: string, bytes: Uint8Array) => void | Promise<void>;

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  blocked: number;
}

export class SimNetwork {
  readonly #receivers = new Map<string, Receiver>();
  readonly #links = new Map<string, LinkFaults>();
  readonly #blocked = new Set<string>();
  readonly #held = new Map<string, { from: string; to: string; bytes: Uint8Array }[]>();
  readonly #replayPool: { from: string; to: string; bytes: Uint8Array }[] = [];
  #defaults: LinkFaults;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, blocked: 0 };

  constructor(
    readonly scheduler: Scheduler,
    readonly rng: SeededRng,
    defaults: LinkFaults = PERFECT_LINK,
  ) {
    this.#defaults = checkFaults(defaults);
  }

  /** Attaches (or re-attaches after a restart) the node's inbound handler. */
  attach(node: string, receiver: Receiver): void {
    this.#receivers.set(node, receiver);
  }

  detach(node: string): void {
    this.#receivers.delete(node);
  }

  setDefaults(faults: LinkFaults): void {
    this.#defaults = checkFaults(faults);
  }

  setLink(from: string, to: string, faults: LinkFaults): void {
    this.#links.set(key(from, to), checkFaults(faults));
  }

  /** Cuts from→to (and to→from when symmetric): messages on a cut link are lost. */
  partition(a: readonly string[], b: readonly string[], symmetric = true): void {
    for (const x of a) {
      for (const y of b) {
        this.#blocked.add(key(x, y));
        if (symmetric) this.#blocked.add(key(y, x));
      }
    }
    this.scheduler.trace.record(`net partition ${a.join(",")} | ${b.join(",")} sym=${symmetric}`);
  }

  /** Undoes `partition(a, b, symmetric)`. */
  unpartition(a: readonly string[], b: readonly string[], symmetric = true): void {
    for (const x of a) {
      for (const y of b) {
        this.#blocked.delete(key(x, y));
        if (symmetric) this.#blocked.delete(key(y, x));
      }
    }
    this.scheduler.trace.record(`net unpartition ${a.join(",")} | ${b.join(",")}`);
  }

  /** Removes every partition and every per-link fault setting, and releases held links. */
  heal(): void {
    this.#blocked.clear();
    this.#links.clear();
    this.#defaults = PERFECT_LINK;
    for (const k of [...this.#held.keys()]) {
      const [from, to] = k.split("→") as [string, string];
      this.release(from, to);
    }
    this.scheduler.trace.record("net heal");
  }

  /** Holds from→to: messages queue, in order, until `release`. */
  hold(from: string, to: string): void {
    if (!this.#held.has(key(from, to))) this.#held.set(key(from, to), []);
  }

  release(from: string, to: string): void {
    const queue = this.#held.get(key(from, to));
    if (queue === undefined) return;
    this.#held.delete(key(from, to));
    // One event delivers the whole queue so a held link keeps its order.
    this.scheduler.schedule(0, to, `release ${from}→${to} ${queue.length} msgs`, async () => {
      const receiver = this.#receivers.get(to);
      for (const m of queue) {
        if (receiver === undefined || this.#blocked.has(key(from, to))) {
          this.stats.dropped++;
          continue;
        }
        this.stats.delivered++;
        await receiver(m.from, m.bytes);
      }
    });
  }

  /** Replays a few old messages (delayed duplicates from an old connection or epoch). */
  replayOld(count: number): void {
    for (let i = 0; i < count && this.#replayPool.length > 0; i++) {
      const m = this.#replayPool[this.rng.int(this.#replayPool.length)]!;
      this.#deliverAfter(m.from, m.to, m.bytes, this.rng.int(50), "replay");
    }
  }

  send(from: string, to: string, bytes: Uint8Array): void {
    this.stats.sent++;
    const k = key(from, to);
    if (this.#blocked.has(k)) {
      this.stats.blocked++;
      return;
    }
    const held = this.#held.get(k);
    if (held !== undefined) {
      held.push({ from, to, bytes });
      return;
    }
    const f = this.#links.get(k) ?? this.#defaults;
    if (this.rng.chance(f.loss)) {
      this.stats.dropped++;
      return;
    }
    const delay = () =>
      f.latencyMs +
      (f.jitterMs > 0 ? this.rng.int(f.jitterMs + 1) : 0) +
      (this.rng.chance(f.reorder) ? f.latencyMs * 5 + this.rng.int(50) : 0);
    this.#deliverAfter(from, to, bytes, delay(), "deliver");
    if (this.rng.chance(f.duplicate)) {
      this.stats.duplicated++;
      this.#deliverAfter(from, to, bytes, delay() + this.rng.int(100), "dup");
    }
    if (f.lateReplay > 0 && this.rng.chance(f.lateReplay)) {
      if (this.#replayPool.length >= 256) this.#replayPool.splice(this.rng.int(256), 1);
      this.#replayPool.push({ from, to, bytes });
    }
  }

  #deliverAfter(from: string, to: string, bytes: Uint8Array, delayMs: number, why: string): void {
    this.scheduler.schedule(delayMs, to, `${why} ${from}→${to} ${bytes.length}B`, () => {
      if (this.#blocked.has(key(from, to))) {
        this.stats.blocked++;
        return;
      }
      const receiver = this.#receivers.get(to);
      if (receiver === undefined) {
        this.stats.dropped++;
        return;
      }
      this.stats.delivered++;
      return receiver(from, bytes);
    });
  }
}

function key(from: string, to: string): string {
  return `${from}→${to}`;
}

function checkFaults(f: LinkFaults): LinkFaults {
  if (!(f.loss >= 0 && f.loss <= 0.5))
    throw new RangeError('"loss" expected a probability in [0, 0.5]');
  for (const name of ["duplicate", "reorder", "lateReplay"] as const) {
    if (!(f[name] >= 0 && f[name] <= 1)) throw new RangeError(`"${name}" expected a probability`);
  }
  if (!(f.latencyMs >= 0 && f.jitterMs >= 0))
    throw new RangeError('"latencyMs"/"jitterMs" expected >= 0');
  return { ...f };
}
