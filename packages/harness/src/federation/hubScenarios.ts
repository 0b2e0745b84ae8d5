/**
 * Scenarios of the federation world with real hubs and MLS clients (hubWorld.ts, issue 18)
 * and their runner. A run: 2–5 hubs from the seed's plan, users homed on every hub; the
 * first user of hub a creates a room and adds everyone (key packages claimed across the
 * links, Welcomes routed by each home hub); through the chaos phase members on every hub
 * send, a member homed on another hub removes someone, the authority's operator kicks a
 * user homed elsewhere, another hub claims the room in a term it has no certificate for
 * (hubForgery.ts), under the plan's faults (safety checked every 2 s); then the faults
 * heal and the room must converge. Same seed → same trace and state digests.
 */
import { createHash } from "node:crypto";
import { wallClockMs } from "../host.js";
import { type LinkFaults, PERFECT_LINK } from "../network.js";
import type { SeededRng } from "../rng.js";
import { runResult, scenarioError } from "../scenario.js";
import { applyFedPlan, type FedPlan, type FedPlanSpec, fedPlanFor } from "./fedPlan.js";
import type { FedRunResult } from "./fedScenarios.js";
import {
  authorityOf,
  checkFedSafety,
  checkRelayBans,
  fedHubGaps,
  hubLogOf,
  type RelayBan,
} from "./hubChecks.js";
import { forgedTerm } from "./hubForgery.js";
import { FedHubWorld, hubDomain } from "./hubWorld.js";

/** One run's room: who created it, who is in it, what the scenario did to it. */
export interface FedHubRun {
  readonly w: FedHubWorld;
  readonly rng: SeededRng;
  room: bigint;
  readonly creator: string;
  /** Users the scenario removed or kicked (their removal was accepted). */
  readonly removed: Set<string>;
  /** Bans by a hub's operator of a user homed elsewhere (relay_ban). */
  readonly bans: RelayBan[];
}

export interface FedHubScenario {
  name: string;
  description: string;
  usersPerHub: number;
  chaosMs: number;
  convergeMs: number;
  plan: Omit<FedPlanSpec, "chaosMs">;
  /** Faults on the client ↔ home hub links during the chaos phase (default none). */
  clientLinks?: Partial<LinkFaults>;
  /** Messages each member sends during the chaos phase. */
  messagesPerUser: number;
  /** Schedules the scenario's own actions (removals, kicks …) in the chaos phase. */
  workload?(r: FedHubRun): void;
  /** `federation.ack_quorum` of every hub (default "local"). */
  ackQuorum?: "local" | "majority";
  /** `federation.failover_after_ms` of every hub (default 3000). */
  failoverAfterMs?: number;
}

const te = new TextEncoder();
const CHECK_EVERY_MS = 2000;

/** Sends `user:i` (a refusal is fine: the sender may be removed, its hub cut off). */
function send(r: FedHubRun, user: string, i: number, delayMs: number): void {
  r.w.at(delayMs, `send ${user}:${i}`, () => {
    const c = r.w.client(user).client;
    if (c === undefined) return;
    r.w.note("sent");
    c.send(r.room, te.encode(`${user}:${i}`)).then(
      () => r.w.note("acked"),
      () => r.w.note("send_refused"),
    );
  });
}

/** A user of hub `i` (the first unless `k`), when the world has that hub. */
function userOf(r: FedHubRun, i: number, k = 0): string | undefined {
  const d = hubDomain(i);
  return [...r.w.clients.keys()].filter((n) => r.w.homeOf(n) === d)[k];
}

/** A member homed on hub b (made an admin in setup) removes a user homed on another hub. */
function remoteRemoval(r: FedHubRun, atMs: number): void {
  const admin = userOf(r, 1)!;
  const hubs = r.w.domains.length;
  const victim = hubs > 2 ? userOf(r, 2, 1) : userOf(r, 0, 1);
  if (victim === undefined) return;
  r.w.at(atMs, `${admin} removes ${victim}`, () => {
    const c = r.w.client(admin).client;
    if (c === undefined) return;
    c.removeMembers(r.room, [victim]).then(
      () => {
        r.removed.add(victim);
        r.w.note("removed");
      },
      () => r.w.note("remove_refused"),
    );
  });
}

/** The authority's operator kicks a user homed on another hub (a member commits it). */
function operatorKick(r: FedHubRun, atMs: number): void {
  const hubs = r.w.domains.length;
  const victim = hubs > 3 ? userOf(r, hubs - 1, 0) : userOf(r, 1, 1);
  if (victim === undefined) return;
  r.w.at(atMs, `kick ${victim}`, () => {
    const hub = r.w.hub(authorityOf(r.w, r.room, r.w.homeOf(r.creator))).node;
    hub.kick(r.room, victim).then(
      (o) => {
        if (o?.ok === true) {
          r.removed.add(victim);
          r.w.note("kicked");
        }
      },
      () => undefined,
    );
  });
}

/**
 * The operator of the last hub bans the room's creator (homed on hub a) hub-wide: that
 * hub's devices get none of her messages sequenced after, nor her presence (relay_ban).
 */
function relayBan(r: FedHubRun, atMs: number): void {
  const hub = r.w.hub(r.w.domains.at(-1)!);
  r.w.at(atMs, `${hub.domain} bans ${r.creator}`, () => {
    const moderation = hub.node.moderation;
    const from = hub.node.lmdb?.nextIndex(r.room);
    if (moderation === undefined || from === undefined) return;
    const ban: RelayBan = {
      hub: hub.domain,
      user: r.creator,
      senderId: r.w.client(r.creator).senderId,
      from,
      at: r.w.now,
    };
    moderation.ban(r.creator, "hub", undefined, "sim", "operator").then(
      () => {
        r.bans.push(ban);
        r.w.note("relay_bans");
      },
      () => undefined,
    );
  });
}

/** Every member says it is online, and types now and then (ephemeral, across hubs). */
function chatter(r: FedHubRun, chaosMs: number): void {
  // A removed member's client refuses to type in the room: fine.
  const quietly = (fn: () => void) => {
    try {
      fn();
    } catch {
      r.w.note("ephemeral_refused");
    }
  };
  for (const user of r.w.clients.keys()) {
    r.w.at(r.rng.int(chaosMs / 2), `${user} online`, () =>
      quietly(() => r.w.client(user).client?.setPresence("online")),
    );
    r.w.at(r.rng.int(chaosMs), `${user} types`, () =>
      quietly(() => r.w.client(user).client?.setTyping(r.room, true)),
    );
  }
}

/**
 * `ack_quorum = "local"` scenarios do not fail over: a failover there may lose what the old
 * authority acknowledged and showed its devices, by design (the engine's fed_local counts
 * it), which these scenarios' invariants would report (fed_hubs seeds 15 and 49). Failover
 * between real hubs is fed_hubs_failover's, in majority mode.
 */
const LOCAL_NO_FAILOVER_MS = 600_000;

export const fedHubs: FedHubScenario = {
  name: "fed_hubs",
  description:
    "real hubs and MLS clients: chat across hubs, a removal by a member homed elsewhere and an operator kick, under lossy links, crashes, partitions and skew",
  usersPerHub: 2,
  chaosMs: 12_000,
  convergeMs: 30_000,
  messagesPerUser: 3,
  plan: {
    minHubs: 2,
    maxHubs: 4,
    kinds: ["network", "hubCrash", "partition", "replayOld"],
    maxLoss: 0.2,
    maxEvents: 3,
    maxDownMs: 3000,
  },
  clientLinks: { loss: 0.05, duplicate: 0.05, reorder: 0.05 },
  failoverAfterMs: LOCAL_NO_FAILOVER_MS,
  workload(r) {
    remoteRemoval(r, 2000 + r.rng.int(4000));
    operatorKick(r, 3000 + r.rng.int(4000));
    relayBan(r, 1000 + r.rng.int(6000));
    forgedTerm(r, 1500 + r.rng.int(6000));
    chatter(r, fedHubs.chaosMs);
  },
};

export const fedHubsPartition: FedHubScenario = {
  name: "fed_hubs_partition",
  description:
    "real hubs: groups of hubs cut off and hubs crashing while members on every side keep sending; the replicas catch up and agree",
  usersPerHub: 1,
  chaosMs: 14_000,
  convergeMs: 30_000,
  messagesPerUser: 5,
  plan: {
    minHubs: 3,
    maxHubs: 5,
    kinds: ["network", "hubCrash", "partition"],
    maxLoss: 0.1,
    maxEvents: 5,
    maxDownMs: 4000,
  },
  failoverAfterMs: LOCAL_NO_FAILOVER_MS,
};

/** Every 2–4 s the sitting authority hands the room to another hub (a planned transfer). */
function plannedTransfers(r: FedHubRun, chaosMs: number): void {
  for (let t = 1500 + r.rng.int(1000); t < chaosMs - 1000; t += 2000 + r.rng.int(2000)) {
    r.w.at(t, "transfer", () => {
      const from = authorityOf(r.w, r.room, r.w.homeOf(r.creator));
      const fed = r.w.hub(from).node.core?.federation;
      if (fed === undefined) return;
      const to = r.rng.pick(r.w.domains.filter((d) => d !== from));
      r.w.note("transfers_started");
      fed.transfer(r.room, to).then(
        (res) => r.w.note(res.ok ? "transfers_done" : `transfers_refused_${res.code}`),
        () => r.w.note("transfers_failed"),
      );
    });
  }
}

/**
 * The room's authority goes down for `downMs`: cut off from every other hub, or crashed
 * (keeping `written()` of its unflushed writes).
 */
async function authorityDown(
  r: FedHubRun,
  cut: boolean,
  downMs: number,
  written: () => number,
): Promise<void> {
  const auth = authorityOf(r.w, r.room, r.w.homeOf(r.creator));
  if (cut) {
    r.w.note("authority_cut_off");
    const rest = r.w.domains.filter((d) => d !== auth);
    r.w.network.partition([auth], rest);
    r.w.at(downMs, "outage over", () => r.w.network.unpartition([auth], rest));
  } else {
    await r.w.crashHub(auth, written(), downMs);
  }
}

/** The authority crashes, or is cut off from every other hub, long enough to be replaced. */
function authorityOutage(r: FedHubRun, chaosMs: number, failoverAfterMs: number): void {
  const t = 1000 + r.rng.int(Math.floor(chaosMs / 3));
  const cut = r.rng.chance(0.5);
  r.w.at(t, "authority outage", async () => {
    const downMs = 3 * failoverAfterMs + r.rng.int(4000);
    await authorityDown(r, cut, downMs, () => r.rng.int(3));
  });
}

export const fedHubsTransfer: FedHubScenario = {
  name: "fed_hubs_transfer",
  description:
    "real hubs: planned authority transfers every few seconds while members on every hub send (ack_quorum majority), lossy links, crashes",
  usersPerHub: 1,
  chaosMs: 14_000,
  convergeMs: 30_000,
  messagesPerUser: 6,
  ackQuorum: "majority",
  failoverAfterMs: 1500,
  plan: {
    minHubs: 3,
    maxHubs: 4,
    kinds: ["network", "hubCrash", "replayOld"],
    maxLoss: 0.1,
    maxEvents: 2,
    maxDownMs: 2000,
  },
  clientLinks: { loss: 0.02, duplicate: 0.02, reorder: 0.02 },
  workload: (r) => plannedTransfers(r, fedHubsTransfer.chaosMs),
};

export const fedHubsFailover: FedHubScenario = {
  name: "fed_hubs_failover",
  description:
    "real hubs: the authority crashes or is cut off; a voter takes over (ack_quorum majority: nothing acknowledged lost); the old one comes back deposed",
  usersPerHub: 1,
  chaosMs: 16_000,
  convergeMs: 30_000,
  messagesPerUser: 6,
  ackQuorum: "majority",
  failoverAfterMs: 1000,
  plan: { minHubs: 3, maxHubs: 5, kinds: ["network"], maxLoss: 0.1, maxEvents: 0 },
  workload: (r) => authorityOutage(r, fedHubsFailover.chaosMs, 1000),
};

/**
 * The authority goes down again and again (crashed, or cut off from every other hub) while
 * members write, so terms follow each other with tails left on some hubs only: with five
 * voters this is where an earlier term's entry, committed by a later authority, must survive
 * the next election (Raft's "Figure 8"; federation's figure8.test.ts plays the exact script).
 */
function authorityChurn(r: FedHubRun, chaosMs: number, failoverAfterMs: number): void {
  let t = 800 + r.rng.int(1000);
  while (t < chaosMs - 2000) {
    const cut = r.rng.chance(0.4);
    const downMs = failoverAfterMs + r.rng.int(3 * failoverAfterMs);
    const written = r.rng.int(3);
    r.w.at(t, "authority churn", () => authorityDown(r, cut, downMs, () => written));
    t += failoverAfterMs + r.rng.int(3 * failoverAfterMs);
  }
}

export const fedHubsChurn: FedHubScenario = {
  name: "fed_hubs_churn",
  description:
    "five real hubs: the authority crashes or is cut off again and again while members send (ack_quorum majority), lossy links: terms follow each other, nothing acknowledged lost",
  usersPerHub: 1,
  chaosMs: 20_000,
  convergeMs: 40_000,
  messagesPerUser: 6,
  ackQuorum: "majority",
  failoverAfterMs: 1000,
  plan: { minHubs: 5, maxHubs: 5, kinds: ["network"], maxLoss: 0.2, maxEvents: 0 },
  workload: (r) => authorityChurn(r, fedHubsChurn.chaosMs, 1000),
};

/** The scenarios CI runs over its seeds (tests/simulation), all invariants holding. */
export const FED_HUB_SCENARIOS: readonly FedHubScenario[] = [
  fedHubs,
  fedHubsPartition,
  fedHubsTransfer,
  fedHubsFailover,
  fedHubsChurn,
];

export function fedHubScenarioByName(name: string): FedHubScenario | undefined {
  return FED_HUB_SCENARIOS.find((s) => s.name === name);
}

export interface FedHubRunOptions {
  scenario: FedHubScenario;
  seed: bigint;
  plan?: FedPlan;
  canaries?: readonly string[];
  keepTrace?: boolean;
  /** `federation.enlist_hubs` of every hub (default the hub's, as kalandrad's). */
  enlistHubs?: boolean;
  /** Looks at the world before it closes (tests, debugging a seed). */
  inspect?(w: FedHubWorld, room: bigint): void;
}

/** Creates the room on hub a, gives hub b's first user admin, adds everyone; waits for all. */
async function setUp(w: FedHubWorld, creator: string): Promise<bigint> {
  await w.startClients();
  const room = await w.perform("create room", () => w.api(creator).createRoom());
  const others = [...w.clients.keys()].filter((n) => n !== creator);
  await w.perform("add members", () => w.api(creator).addMembers(room, others));
  const admin = others.find((n) => w.homeOf(n) !== w.homeOf(creator));
  if (admin !== undefined) {
    await w.runFor(30_000, () => w.client(admin).client?.room(room)?.phase.kind === "synchronized");
    await w.perform("admin", () => w.api(creator).setRole(room, admin, "admin"));
  }
  await w.runFor(30_000, () =>
    others.every((n) => w.client(n).client?.room(room)?.phase.kind === "synchronized"),
  );
  for (const n of others) {
    if (w.client(n).client?.room(room)?.phase.kind !== "synchronized") {
      throw new Error(`${n} did not join during setup`);
    }
  }
  return room;
}

export async function runFedHubScenario(o: FedHubRunOptions): Promise<FedRunResult> {
  const s = o.scenario;
  const plan = o.plan ?? fedPlanFor({ ...s.plan, chaosMs: s.chaosMs }, o.seed);
  const started = wallClockMs();
  const w = await FedHubWorld.create({
    seed: o.seed,
    hubs: plan.hubs,
    usersPerHub: s.usersPerHub,
    maxSkewMs: plan.maxSkewMs,
    canaries: o.canaries ?? [],
    keepTrace: o.keepTrace === true,
    ...(s.ackQuorum === undefined ? {} : { ackQuorum: s.ackQuorum }),
    ...(s.failoverAfterMs === undefined ? {} : { failoverAfterMs: s.failoverAfterMs }),
    ...(o.enlistHubs === undefined ? {} : { enlistHubs: o.enlistHubs }),
  });
  const creator = [...w.clients.keys()][0]!;
  const creatorHome = w.homeOf(creator);
  const t0 = w.scheduler.now;
  let stateDigest = "";
  try {
    try {
      await w.runFor(2000); // the links come up
      const room = await setUp(w, creator);
      const r: FedHubRun = {
        w,
        rng: w.rng.fork(`scenario-${s.name}`),
        room,
        creator,
        removed: new Set(),
        bans: [],
      };
      applyFedPlan(w, plan);
      if (s.clientLinks !== undefined) w.setClientLinks({ ...PERFECT_LINK, ...s.clientLinks });
      for (const user of w.clients.keys()) {
        for (let i = 0; i < s.messagesPerUser; i++) send(r, user, i, r.rng.int(s.chaosMs));
      }
      s.workload?.(r);
      for (let t = 0; t < s.chaosMs; t += CHECK_EVERY_MS) {
        await w.runFor(Math.min(CHECK_EVERY_MS, s.chaosMs - t));
        checkFedSafety(w, room, creatorHome);
        checkRelayBans(w, room, r.bans);
      }
      w.heal();
      w.trace.record("heal");
      await converge(r, s.convergeMs);
      checkFedSafety(w, room, creatorHome);
      checkRelayBans(w, room, r.bans);
      checkRemovals(r);
      stateDigest = digestFedHubs(w, room);
      o.inspect?.(w, room);
    } catch (e) {
      scenarioError(w, e);
    }
  } finally {
    await w.close();
  }
  const notes = { ...w.notes, hubs: plan.hubs };
  return runResult(w, { ...o, scenario: s.name, plan }, { stateDigest, t0, started, notes });
}

/** The members by the authority's room (removed ones excluded), or undefined while it is down. */
function members(r: FedHubRun): string[] | undefined {
  const auth = authorityOf(r.w, r.room, r.w.homeOf(r.creator));
  const room = r.w.hub(auth).node.room(r.room);
  if (room === undefined) return undefined;
  const ids = new Set(room.members());
  return [...r.w.clients.keys()].filter((n) => ids.has(r.w.client(n).senderId));
}

/**
 * After the heal: every hub restarts, the creator sends once more (a replica that missed
 * the last frames learns of the gap from the next one), and the room must converge.
 */
async function converge(r: FedHubRun, budgetMs: number): Promise<void> {
  const { w } = r;
  await w.runFor(3000, () => [...w.hubs.values()].every((h) => h.node.up));
  send(r, r.creator, 1000, 0);
  let waiting: string | undefined = "not checked";
  for (let t = 0; t < budgetMs && waiting !== undefined; t += 250) {
    await w.runFor(250);
    const m = members(r);
    waiting =
      m === undefined ? "the authority is down" : fedHubGaps(w, r.room, w.homeOf(r.creator), m);
  }
  if (waiting !== undefined)
    w.violation("fed_convergence", `not converged after ${budgetMs} ms: ${waiting}`);
}

/** A removal the hub accepted leaves the user out of the room for good. */
function checkRemovals(r: FedHubRun): void {
  const m = members(r);
  if (m === undefined) return;
  for (const u of r.removed) {
    if (m.includes(u)) r.w.violation("removal_applied", `${u} is still a member after its removal`);
  }
}

/** SHA-256 over every hub's copy of the room's log and every client's room epoch. */
export function digestFedHubs(w: FedHubWorld, roomId: bigint): string {
  const h = createHash("sha256");
  for (const d of w.domains) {
    const log = hubLogOf(w, d, roomId) ?? [];
    h.update(`${d} ${log.length}\n`);
    for (const f of log) h.update(f.header);
  }
  for (const [n, c] of w.clients) {
    const room = c.client?.room(roomId);
    h.update(`${n} ${room?.epoch ?? "-"} ${c.delivered.get(roomId)?.size ?? 0}\n`);
  }
  return h.digest("hex");
}
