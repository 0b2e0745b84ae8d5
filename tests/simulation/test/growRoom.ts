/**
 * `grow_room` (issue 13): a room grows from 5 to 36 members in batches of two or three
 * (add-only commits, so the new leaves stay unmerged under parents that earlier updates
 * filled), with updates, removals and re-adds (by Welcome and by external commit)
 * interleaved. With ts-mls 1.6.4's unmerged-leaves check (RFC 9420 §7.9) joiners started to
 * fail once the room passed about ten members; here every joiner must get in.
 *
 * The scenario lives with the simulation tests rather than in the harness's SCENARIOS so
 * the swarm CLI's set stays as it is; it runs on the same machinery (runScenario).
 */
import type { Scenario, ScenarioRun } from "@kalandra/harness";

const CLIENTS = 36;
const FIRST = 5; // u0…u4 form the room in setup and stay; they make the commits
const STEP_MS = 1500;

type Step =
  | { op: "add"; names: string[] }
  | { op: "update" }
  | { op: "remove"; name: string }
  | { op: "readd"; name: string }
  | { op: "rejoin"; name: string };

/**
 * The schedule: every new user added once, in batches of 2–3; after each batch an update by
 * a member (fills parent nodes, so later adds leave unmerged leaves below them); four early
 * joiners removed along the way, two re-added by a member's Welcome, two rejoining by
 * their own external commit.
 */
export function growSchedule(r: ScenarioRun): Step[] {
  const pool = r.names.slice(FIRST);
  const steps: Step[] = [];
  const removed: { name: string; at: number }[] = [];
  let removals = 0;
  let returns = 0;
  const bringBack = (name: string): Step =>
    returns++ % 2 === 0 ? { op: "readd", name } : { op: "rejoin", name };
  let added = 0;
  while (added < pool.length) {
    const n = Math.min(2 + r.rng.int(2), pool.length - added);
    steps.push({ op: "add", names: pool.slice(added, added + n) });
    added += n;
    steps.push({ op: "update" });
    // Remove an early joiner now and then.
    if (removals < 4 && added >= 8 && r.rng.int(2) === 0) {
      const name = pool[removals * 2] as string;
      removals++;
      removed.push({ name, at: steps.length });
      steps.push({ op: "remove", name });
    }
    // Bring back someone removed at least three steps ago, alternately by Welcome and
    // by the user's own external commit.
    const back = removed[0];
    if (back !== undefined && steps.length - back.at >= 3 && r.rng.int(2) === 0) {
      removed.shift();
      steps.push(bringBack(back.name));
    }
  }
  for (const { name } of removed) steps.push(bringBack(name));
  return steps;
}

/** A member that is synchronized in the room now (u0 if none other is). */
function inRoom(r: ScenarioRun): string {
  const live = r.names.filter(
    (n) => r.w.client(n).client?.room(r.room)?.phase.kind === "synchronized",
  );
  return live.length === 0 ? "u0" : r.rng.pick(live);
}

function note(r: ScenarioRun, key: string): void {
  r.notes[key] = (r.notes[key] ?? 0) + 1;
}

/** Runs `start` now and again up to `left` times, a second apart, while it fails. */
function retrying(
  r: ScenarioRun,
  label: string,
  left: number,
  start: () => Promise<unknown>,
): void {
  start().then(
    () => note(r, `${label}_ok`),
    () => {
      note(r, `${label}_retry`);
      if (left > 0) r.w.at(1000, `${label} again`, () => retrying(r, label, left - 1, start));
    },
  );
}

export const growRoom: Scenario = {
  name: "grow_room",
  description:
    "a room grows past 30 members with updates, removals and re-adds interleaved; every joiner gets in",
  clients: CLIENTS,
  chaosMs: 70_000,
  convergeMs: 60_000,
  plan: { kinds: ["network"], maxLoss: 0.1, maxEvents: 0, maxSkewMs: 1000 },
  async setup(r) {
    const { w } = r;
    // Open, so removed users come back by their own external commit; the founders are
    // room admins, so they may remove other users (DESIGN §10 room access).
    r.room = await w.perform("create room", () =>
      w.api("u0").createRoom(undefined, { joinRule: "open" }),
    );
    const first = r.names.slice(1, FIRST);
    // Everyone is invited from the start: joiners come in by Welcome or external commit.
    w.access.admit(r.room, r.names);
    await w.perform("add members", () => w.api("u0").addMembers(r.room, first));
    for (const n of first) {
      await w.perform(`make ${n} admin`, () => w.api("u0").setRole(r.room, n, "admin"));
    }
    await w.runFor(30_000, () =>
      first.every((n) => w.client(n).client?.room(r.room)?.phase.kind === "synchronized"),
    );
    // A joiner that cannot process its Welcome or GroupInfo reports it as an error event.
    for (const name of r.names) {
      w.client(name).client?.on((e) => {
        if (
          e.type === "error" &&
          /unmerged|external_pub|external_sender|Validation|Codec/.test(
            `${e.error.name} ${e.error.message}`,
          )
        ) {
          w.violation("joiner_failed", `${name}: ${e.error.name}: ${e.error.message}`);
        }
      });
    }
  },
  workload(r) {
    const { w } = r;
    const actor = () => r.rng.pick(r.names.slice(0, FIRST));
    for (const [i, step] of growSchedule(r).entries()) {
      const at = 1000 + i * STEP_MS;
      // Commits by the founders; updates by anyone in the room at that moment, so parent
      // nodes all over the tree get filled.
      const who = step.op === "update" ? undefined : actor();
      const label =
        step.op === "add"
          ? `add ${step.names.join(",")}`
          : step.op === "update"
            ? "update"
            : `${step.op} ${step.name}`;
      w.at(at, `${who ?? "a member"} ${label}`, () => {
        const c = w.client(who ?? inRoom(r)).client;
        const target = step.op === "rejoin" ? w.client(step.name).client : c;
        if (target === undefined) return;
        switch (step.op) {
          case "add":
            retrying(r, "add", 5, () => target.addMembers(r.room, step.names));
            break;
          case "readd":
            retrying(r, "readd", 5, () => target.addMembers(r.room, [step.name]));
            break;
          case "remove":
            retrying(r, "remove", 5, () => target.removeMembers(r.room, [step.name]));
            break;
          case "rejoin":
            retrying(r, "rejoin", 5, () => target.joinExternal(r.room));
            break;
          case "update":
            retrying(r, "update", 2, () => target.update(r.room));
            break;
        }
      });
    }
    // A message now and then, so members also agree on application data across epochs.
    for (let i = 0; i < 6; i++) {
      const name = r.rng.pick(r.names.slice(0, FIRST));
      w.at(2000 + r.rng.int(60_000), `send ${name}:${i}`, () => {
        void w
          .client(name)
          .client?.send(r.room, new TextEncoder().encode(`${name}:${i}`))
          .catch(() => undefined);
      });
    }
  },
  check(r) {
    const room = r.w.hub.room(r.room);
    if (room === undefined) return;
    const members = new Set(room.members());
    const missing = r.names.filter((n) => !members.has(r.w.client(n).senderId));
    if (missing.length > 0)
      r.w.violation("grow_room_members", `not members at the end: ${missing.join(", ")}`);
    r.notes.members = members.size;
    r.notes.epochs = Number(room.epoch);
  },
};
