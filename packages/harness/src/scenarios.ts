/**
 * The scenarios of issue 6 (tests/simulation runs each over many seeds; `pnpm sim` runs one
 * or a swarm of them). Clients are named u0, u1, …; u0 creates the room.
 */
import { decodeErrorPayload, FrameHeader, HEADER_SIZE, Opcode } from "@kalandra/proto";
import { attachments } from "./attachments.js";
import { IMPOSTOR_SCENARIOS, PENDING_ATTACKS } from "./impostor/index.js";
import { headerInfo, hubLog } from "./invariants.js";
import type { Scenario, ScenarioRun } from "./scenario.js";
import { roomWith, send, update } from "./workload.js";

/** Ten members chatting with 50 % loss on every link (plus whatever else the seed draws). */
export const chat10: Scenario = {
  name: "chat10",
  description: "10 members chat under 50% packet loss; everyone ends with the same history",
  clients: 10,
  chaosMs: 40_000,
  convergeMs: 60_000,
  plan: {
    kinds: ["network", "clientCrash", "hubCrash", "replayOld"],
    fixedLoss: 0.5,
    maxEvents: 3,
    maxSkewMs: 2000,
  },
  async setup(r) {
    await roomWith(r, r.names.slice(1));
  },
  workload(r) {
    chatWorkload(r, 30_000);
  },
};

/**
 * The chat: every member sends 1–3 messages spread over `spanMs`, one member updates its
 * keys (a new epoch), one member's app restarts mid-chat and sends again, and an operator
 * erases one message.
 */
function chatWorkload(r: ScenarioRun, spanMs: number): void {
  for (const name of r.names) {
    const n = 1 + r.rng.int(3);
    for (let i = 0; i < n; i++) send(r, name, i, r.rng.int(spanMs));
  }
  update(r, r.rng.pick(r.names), r.rng.int(spanMs));
  // A member's app restarts mid-chat and sends again (same epoch, most seeds): its
  // sending chain must continue past what it sent before (DESIGN §7).
  const restarting = r.rng.pick(r.names.slice(1));
  const at = Math.floor(spanMs / 3);
  send(r, restarting, 10, at);
  r.w.at(at + 2000, `restart ${restarting}`, () =>
    r.w.crashClient(restarting, 500 + r.rng.int(1500)),
  );
  send(r, restarting, 11, at + 6000);
  // An operator erases one message once some have been sequenced (DESIGN §5).
  r.w.at(
    Math.floor((spanMs * 2) / 3) + r.rng.int(Math.floor(spanMs / 3)),
    "erase one message",
    () => {
      const msgs = hubLog(r.w, r.room).filter(
        (f) => headerInfo(f.header).opcode === Opcode.APP_MESSAGE && f.payload !== null,
      );
      if (msgs.length === 0) return;
      r.w.eraseMessage(r.room, r.rng.pick(msgs).logIndex);
    },
  );
}

/**
 * The same chat at a human pace, for `pnpm bench sim`: ten members under 50 % loss send
 * 1–3 messages each over five minutes (the simulator's speed on realistic, mostly idle
 * traffic; the CI variant packs the same work into 30 s).
 */
export const chat10Slow: Scenario = {
  ...chat10,
  name: "chat10_slow",
  description: "chat10 at a human pace: five minutes of a ten-member chat under 50% loss",
  chaosMs: 300_000,
  // A member polls for what it missed every 30 s instead of chat10's 10 s: at this pace
  // (one message every ~10 s across the room) the 10 s poll was ⅔ of all traffic, most of
  // it retried under 50 % loss. The pushed frames, their retries and the gap detection on
  // the next frame are unchanged; only a lost *last* frame waits longer for its poll.
  syncIntervalMs: 30_000,
  workload(r) {
    chatWorkload(r, 280_000);
  },
};

/** Five members propose their own removal at once: one commit carries all five. */
export const propose5: Scenario = {
  name: "propose5",
  description: "five clients propose at once; the hub yields exactly one commit carrying all five",
  clients: 8,
  chaosMs: 10_000,
  convergeMs: 30_000,
  // The batch window must hold all five: no loss, no hub crash; proposers are not crashed.
  plan: {
    kinds: ["network", "clientCrash", "replayOld"],
    maxLoss: 0,
    protect: [0, 3, 4, 5, 6, 7],
    maxEvents: 2,
    maxSkewMs: 1000,
  },
  hubLimits: { commitDelayMs: 300 },
  async setup(r) {
    await roomWith(r, r.names.slice(1));
  },
  workload(r) {
    for (const name of r.names.slice(3)) {
      r.w.at(1000, `leave ${name}`, () => {
        void r.w
          .client(name)
          .client?.leave(r.room)
          .catch(() => undefined);
      });
    }
  },
  check(r) {
    const leavers = r.names.slice(3);
    const log = hubLog(r.w, r.room);
    const proposals = log.filter((f) => headerInfo(f.header).opcode === Opcode.PROPOSAL);
    const epochs = new Set(proposals.map((f) => headerInfo(f.header).epoch));
    if (proposals.length !== leavers.length || epochs.size !== 1) {
      r.w.violation(
        "one_commit_for_all",
        `${proposals.length} proposals over ${epochs.size} epochs in the log`,
      );
      return;
    }
    const [epoch] = [...epochs] as [bigint];
    for (const name of leavers) {
      const at = r.w.removalEpoch(r.room, name);
      if (at !== epoch + 1n) {
        r.w.violation(
          "one_commit_for_all",
          `${name} removed at epoch ${at}, not by the one commit of epoch ${epoch}`,
        );
      }
    }
    r.notes.commits = log.filter((f) => headerInfo(f.header).opcode === Opcode.COMMIT).length;
  },
};

/**
 * Kick under race: the hub proposes u3's removal while u4 joins by external commit; the
 * join is refused while the removal is pending (MUST_INCLUDE_PENDING_REMOVALS) and u3
 * reads nothing sent after its removal.
 */
export const kickRace: Scenario = {
  name: "kick_race",
  description:
    "a joiner's external commit races a hub removal; the kicked member reads nothing after",
  clients: 5,
  chaosMs: 20_000,
  convergeMs: 40_000,
  plan: {
    kinds: ["network", "clientCrash"],
    maxLoss: 0.2,
    protect: [0, 3, 4],
    maxEvents: 2,
    maxSkewMs: 1000,
  },
  hubLimits: { commitDelayMs: 400 },
  async setup(r) {
    // Open: u4, not a member, joins by external commit (DESIGN §10 room access).
    await roomWith(r, ["u1", "u2", "u3"], { joinRule: "open" });
    r.w.sinkObservers.push((target, frame) => {
      if (frame.length < HEADER_SIZE) return;
      if (FrameHeader.view(frame).opcode !== Opcode.ERROR) return;
      try {
        const p = decodeErrorPayload(frame.subarray(HEADER_SIZE));
        if (p.name === "MUST_INCLUDE_PENDING_REMOVALS" && target.kind === "session") {
          r.notes.refusedJoins = (r.notes.refusedJoins ?? 0) + 1;
        }
      } catch {
        // not an error payload
      }
    });
  },
  workload(r) {
    const { w } = r;
    // u4 holds an invite to the room (room_access); the kick takes u3's right away.
    w.access.admit(r.room, ["u4"]);
    w.at(1000, "kick u3", () => {
      w.access.revoke(r.room, "u3");
      w.hub.kick(r.room, "u3").then(
        (o) => {
          if (o === undefined) w.violation("scenario_error", "the hub was down for the kick");
          else if (!o.ok) r.notes.kickRefused = 1;
        },
        () => undefined,
      );
    });
    // joinExternal retries at once on MUST_INCLUDE_PENDING_REMOVALS and gives up after 8
    // tries, which a short pending window can exhaust: the app tries again a second later.
    const join = (attempt: number) => {
      const c = w.client("u4").client;
      if (c === undefined || attempt > 10) return;
      c.joinExternal(r.room).catch(() => {
        r.notes.joinRetries = (r.notes.joinRetries ?? 0) + 1;
        w.at(1000, "u4 joins again", () => join(attempt + 1));
      });
    };
    w.at(1000 + r.rng.int(40), "u4 joins", () => join(0));
    for (let i = 0; i < 3; i++) {
      send(r, "u1", i, 3000 + r.rng.int(10_000));
      send(r, "u4", i, 6000 + r.rng.int(8000));
    }
  },
  check(r) {
    const room = r.w.hub.room(r.room);
    if (room === undefined) return;
    const members = new Set(room.members());
    if (members.has(r.w.client("u3").senderId)) {
      r.w.violation("kick_applied", "u3 is still a member after the kick");
    }
    if (!members.has(r.w.client("u4").senderId)) {
      r.w.violation("join_after_kick", "u4 never joined");
    }
  },
};

/** The hub loses power in the middle of a commit, or of a burst of messages. */
export const hubCrash: Scenario = {
  name: "hub_crash",
  description: "hub crash in the middle of a commit and of a burst of messages",
  clients: 4,
  chaosMs: 20_000,
  convergeMs: 40_000,
  plan: { kinds: ["network", "replayOld"], maxLoss: 0.2, maxEvents: 2, maxSkewMs: 1000 },
  async setup(r) {
    await roomWith(r, r.names.slice(1));
  },
  workload(r) {
    const { w } = r;
    const written = r.rng.int(3);
    let armed = 2;
    // Power goes while the disk holds (part of) a commit, then while it holds a burst.
    w.appendObservers.push((entries) => {
      if (armed === 0) return;
      const opcodes = entries.map((e) => headerInfo(e.header).opcode);
      const commit = armed === 2 && opcodes.includes(Opcode.COMMIT);
      const burst = armed === 1 && opcodes.filter((o) => o === Opcode.APP_MESSAGE).length >= 1;
      if (!commit && !burst) return;
      armed--;
      r.notes.crashes = (r.notes.crashes ?? 0) + 1;
      w.at(0, "crash mid-write", () => w.crashHub(written, 200 + r.rng.int(3000)));
    });
    update(r, "u1", 1000);
    for (const name of r.names) for (let i = 0; i < 4; i++) send(r, name, i, 8000 + r.rng.int(30));
  },
};

/**
 * The hub loses power right after answering a sync while its disk still holds writes that
 * were not yet synced (issue 11, "sync serves frames that are not yet durable"). Members
 * chat in bursts under loss, so lost fan-outs make them sync while the next batch waits
 * for its fsync; the power goes at the first SYNC_PAGE sent inside such a window, before
 * the disk wrote any of it. A page may carry only durable frames: one the crash took away
 * would leave its reader with a frame the hub no longer has, and its log_index free for
 * other content (`log_prefix`).
 */
export const syncCrash: Scenario = {
  ...hubCrash,
  name: "sync_crash",
  description: "hub crash right after a sync answered inside an fsync window",
  plan: { ...hubCrash.plan, maxLoss: 0.3 },
  workload(r) {
    const { w } = r;
    let armed = 2;
    w.sinkObservers.push((target, frame) => {
      if (armed === 0 || target.kind !== "session" || (w.hub.disk?.buffered ?? 0) === 0) return;
      if (FrameHeader.view(frame).opcode !== Opcode.SYNC_PAGE) return;
      armed--;
      r.notes.crashes = (r.notes.crashes ?? 0) + 1;
      w.at(0, "crash after a sync", () => w.crashHub(0, 200 + r.rng.int(3000)));
    });
    for (const start of [2000, 10_000]) {
      for (const name of r.names) {
        for (let i = 0; i < 6; i++) send(r, name, start + i, start + r.rng.int(200));
      }
    }
  },
};

/** A member is cut off while two epochs pass, then the partition heals and it catches up. */
export const partition: Scenario = {
  name: "partition",
  description: "a member partitioned during two epochs catches up after healing",
  clients: 4,
  chaosMs: 20_000,
  convergeMs: 40_000,
  plan: { kinds: ["network"], maxLoss: 0.3, maxEvents: 0, maxSkewMs: 2000 },
  async setup(r) {
    await roomWith(r, r.names.slice(1));
  },
  workload(r) {
    const { w } = r;
    const oneWay = r.rng.int(3);
    const [a, b] = oneWay === 2 ? [["hub"], ["u3"]] : [["u3"], ["hub"]];
    w.at(500, "partition u3", () => w.network.partition(a, b, oneWay === 0));
    update(r, "u1", 2000);
    update(r, "u2", 7000);
    for (let i = 0; i < 3; i++) {
      send(r, "u0", i, 3000 + r.rng.int(9000));
      send(r, "u3", i, 3000 + r.rng.int(9000));
    }
    w.at(14_000, "heal u3", () => w.network.unpartition(a, b, oneWay === 0));
  },
  check(r) {
    const epoch = r.w.hub.room(r.room)?.epoch ?? 0n;
    if (epoch < 3n)
      r.w.violation("partition_epochs", `only ${epoch} epochs; expected two during the partition`);
  },
};

/**
 * Issue 12, the Welcome inbox: u2 is down (its app crashed) when u0 adds it; the hub keeps
 * the Welcome for u2's device and delivers it when u2 authenticates again, so u2 joins and
 * chats. Links duplicate, reorder and replay old frames (a Welcome may arrive twice), but
 * lose nothing: a Welcome pushed on a connection that loses it waits for the next one.
 */
export const offlineInvitee: Scenario = {
  name: "offline_invitee",
  description: "a member added while its device is down joins when it comes back",
  clients: 3,
  chaosMs: 20_000,
  convergeMs: 40_000,
  plan: { kinds: ["network", "replayOld"], maxLoss: 0, maxEvents: 1, maxSkewMs: 2000 },
  async setup(r) {
    await roomWith(r, ["u1"]);
  },
  workload(r) {
    const { w } = r;
    w.at(200, "u2 goes down", () => w.crashClient("u2", 4000 + r.rng.int(8000)));
    w.at(1000, "add u2 while it is down", () => {
      w.access.admit(r.room, ["u2"]); // an honest add (room_access)
      w.api("u0")
        .addMembers(r.room, ["u2"])
        .then(
          () => {
            r.notes.added = 1;
          },
          () => undefined,
        );
    });
    for (let i = 0; i < 3; i++) send(r, "u0", i, 2000 + r.rng.int(5000));
    for (let i = 0; i < 3; i++) send(r, "u2", i, 14_000 + r.rng.int(4000));
  },
  check(r) {
    if (r.notes.added !== 1) {
      r.w.violation("invitee_added", "u0 could not add u2");
      return;
    }
    const epoch = r.w.hub.room(r.room)?.epoch;
    const u2 = r.w.client("u2").client?.room(r.room);
    if (u2?.phase.kind !== "synchronized" || u2.epoch !== epoch) {
      r.w.violation("offline_invitee_joined", `u2 is ${u2?.phase.kind ?? "not in the room"}`);
    }
  },
};

/**
 * Issue 15, keep-alive on the virtual clock: u2 is cut off both ways and u3 only towards the
 * hub, each for longer than the keep-alive timeouts (client 120 s, hub 150 s). u2 hears
 * nothing, declares the hub dead and reconnects until the link heals; the hub hears nothing
 * of u3 and closes its session at the idle timeout, while u3 still hears the hub. Both catch
 * up once healed; the others chat on.
 */
export const silentPartition: Scenario = {
  name: "silent_partition",
  description: "members cut off past the keep-alive timeouts are dropped and catch up",
  clients: 4,
  chaosMs: 230_000,
  convergeMs: 60_000,
  plan: { kinds: [], maxEvents: 0 },
  async setup(r) {
    await roomWith(r, r.names.slice(1));
  },
  workload(r) {
    const { w } = r;
    w.at(500, "cut u2 both ways", () => w.network.partition(["u2"], ["hub"], true));
    w.at(500, "cut u3 towards the hub", () => w.network.partition(["u3"], ["hub"], false));
    for (let i = 0; i < 3; i++) send(r, "u0", i, 2000 + r.rng.int(200_000));
    send(r, "u2", 0, 100_000);
    w.at(200_000, "heal u2", () => w.network.unpartition(["u2"], ["hub"], true));
    w.at(200_000, "heal u3", () => w.network.unpartition(["u3"], ["hub"], false));
  },
  check(r) {
    const lost = (client: string, reason: string) =>
      r.w.connectionsLost.filter((l) => l.client === client && l.reason.startsWith(reason)).length;
    r.notes.u2HubSilent = lost("u2", "hub silent");
    r.notes.u3IdleClosed = lost("u3", "idle timeout");
    if (r.notes.u2HubSilent === 0)
      r.w.violation("keepalive_client", "u2 never declared the silent hub dead");
    if (r.notes.u3IdleClosed === 0)
      r.w.violation("keepalive_hub", "the hub never closed u3's silent session");
  },
};

export const SCENARIOS: readonly Scenario[] = [
  chat10,
  propose5,
  kickRace,
  hubCrash,
  syncCrash,
  partition,
  offlineInvitee,
  attachments,
  ...IMPOSTOR_SCENARIOS,
];

/** Every scenario by name: the CI/swarm ones and the bench's slow chat. */
export const ALL_SCENARIOS: readonly Scenario[] = [
  ...SCENARIOS,
  chat10Slow,
  silentPartition,
  ...PENDING_ATTACKS,
];

export function scenarioByName(name: string): Scenario {
  const s = ALL_SCENARIOS.find((x) => x.name === name);
  if (s === undefined) {
    throw new RangeError(
      `no scenario ${name} (have ${ALL_SCENARIOS.map((x) => x.name).join(", ")})`,
    );
  }
  return s;
}
