/**
 * kalandrad's side of room-authority transfer (DESIGN §11, docs/federation.md "Moving a
 * room"): the federation core decides, this drives it. A timer calls `tick()` every
 * `tickMs` (the core's failover clock: a voter that has not heard from a room's authority
 * for `federation.failover_after_ms` proposes itself), and every `sampleMs` the rooms'
 * authority is sampled into metrics whose labels stay bounded whatever the number of rooms:
 *
 * - `kalandra_federation_rooms{role}`: federated rooms by this hub's role in them
 *   (sequencer, replica, handing_over, awaiting_handover: four values);
 * - `kalandra_federation_room_term_max`: the highest term of any room here;
 * - `kalandra_federation_authority_changes_total{change}`: rooms whose authority became
 *   (`gained`) or stopped being (`lost`) this hub, transfers and failovers alike, each logged
 *   with the room, the term and the other hub;
 * - `kalandra_federation_transfers_requested_total{result}`: operator transfers (admin API)
 *   by result, `ok` or the refusal code (a closed set).
 */
import type { TimerHandle, Timers } from "@kalandra/proto";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { RoomAuthorityStatus } from "../../../federation/transferTypes.js";

/** What the driver asks of the federation core (`FederationCore` has it). */
export interface AuthorityCore {
  readonly domain: string;
  tick(): void;
  roomAuthority(roomId: bigint): RoomAuthorityStatus | undefined;
  /** Every room this hub knows an authority for (its federated rooms). */
  federatedRooms(): Iterable<bigint>;
}

export interface AuthorityMetrics {
  rooms: Gauge<"role">;
  termMax: Gauge;
  changes: Counter<"change">;
  transfersRequested: Counter<"result">;
}

const ROLES = ["sequencer", "replica", "handing_over", "awaiting_handover"] as const;

export function createAuthorityMetrics(registry: Registry): AuthorityMetrics {
  const registers = [registry];
  return {
    rooms: new Gauge({
      name: "kalandra_federation_rooms",
      help: "Federated rooms by this hub's role in them (sampled every second)",
      labelNames: ["role"],
      registers,
    }),
    termMax: new Gauge({
      name: "kalandra_federation_room_term_max",
      help: "Highest authority term of any federated room on this hub",
      registers,
    }),
    changes: new Counter({
      name: "kalandra_federation_authority_changes_total",
      help: "Rooms whose authority became (gained) or stopped being (lost) this hub",
      labelNames: ["change"],
      registers,
    }),
    transfersRequested: new Counter({
      name: "kalandra_federation_transfers_requested_total",
      help: "Planned transfers asked by an operator, by result (ok or the refusal code)",
      labelNames: ["result"],
      registers,
    }),
  };
}

export interface AuthorityDriverOptions {
  core: AuthorityCore;
  timers: Timers;
  metrics: AuthorityMetrics;
  log?: Logger;
  /** How often the core's clock ticks (default 100 ms). */
  tickMs?: number;
  /** How often the rooms are sampled into metrics (default 1000 ms). */
  sampleMs?: number;
}

export class AuthorityDriver {
  private timer: TimerHandle | undefined;
  private sinceSample = 0;
  /** Per room: was this hub its authority at the last sample. */
  private readonly ours = new Map<bigint, boolean>();
  private stopped = false;

  constructor(private readonly o: AuthorityDriverOptions) {}

  start(): void {
    this.stopped = false;
    this.sample();
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.o.timers.clear(this.timer);
    this.timer = undefined;
  }

  /** Samples every room's authority now (also on each `sampleMs`). */
  sample(): void {
    const counts = new Map<string, number>(ROLES.map((r) => [r, 0]));
    let termMax = 0n;
    for (const roomId of this.o.core.federatedRooms()) {
      const s = this.o.core.roomAuthority(roomId);
      if (s === undefined) continue;
      counts.set(s.role, (counts.get(s.role) ?? 0) + 1);
      if (s.term > termMax) termMax = s.term;
      const mine = s.authority === this.o.core.domain;
      // A room first seen here already sequenced by this hub in a term after its creator's
      // (term 0) came by a transfer or failover (the book may learn of a room only then).
      const before = this.ours.get(roomId) ?? (mine && s.term > 0n ? false : undefined);
      this.ours.set(roomId, mine);
      if (before === undefined || before === mine) continue;
      this.o.metrics.changes.inc({ change: mine ? "gained" : "lost" });
      this.o.log?.info(
        { room: roomId.toString(), term: s.term.toString(), authority: s.authority },
        mine ? "room authority gained" : "room authority lost",
      );
    }
    for (const [role, n] of counts) this.o.metrics.rooms.set({ role }, n);
    this.o.metrics.termMax.set(Number(termMax));
  }

  private arm(): void {
    const tickMs = this.o.tickMs ?? 100;
    this.timer = this.o.timers.set(tickMs, () => {
      this.timer = undefined;
      if (this.stopped) return;
      try {
        this.o.core.tick();
        this.sinceSample += tickMs;
        if (this.sinceSample >= (this.o.sampleMs ?? 1000)) {
          this.sinceSample = 0;
          this.sample();
        }
      } catch (e) {
        this.o.log?.error({ err: String(e) }, "federation authority tick failed");
      }
      this.arm();
    });
  }
}
