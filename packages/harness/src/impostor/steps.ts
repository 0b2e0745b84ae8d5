/**
 * The steps the impostor family's scenarios share: the honest chat that goes on during
 * an attack, an honest member adding users (admitted first), join attempts by external
 * commit, and the end-state checks. Each step runs inside events and records its outcome
 * in the run's notes (`count`), never awaiting other events.
 */
import type { ScenarioRun } from "../scenario.js";
import { send } from "../workload.js";

export const MALLORY = "mallory";

/** Adds one to the note `key` (what happened, for the checks and the report). */
export function count(r: ScenarioRun, key: string): void {
  r.notes[key] = (r.notes[key] ?? 0) + 1;
}

/** The name of the hub error (or client error code) an attempt failed with. */
export function failure(e: unknown): string {
  const err = e as { hubName?: string; code?: string };
  return err.hubName ?? err.code ?? "other";
}

/** The honest chat during an attack: two messages per member over `spanMs`. */
export function chat(r: ScenarioRun, members: readonly string[], spanMs: number): void {
  for (const name of members) for (let i = 0; i < 2; i++) send(r, name, i, r.rng.int(spanMs));
}

/** At `atMs`, honest `by` admits `users` and adds them (five more tries a second apart). */
export function addLater(r: ScenarioRun, by: string, users: readonly string[], atMs: number): void {
  const { w } = r;
  const label = `${by} adds ${users.join(",")}`;
  const attempt = (left: number) => {
    const again = () => {
      if (left > 0) w.at(1000, `${label} again`, () => attempt(left - 1));
    };
    const c = w.client(by).client;
    if (c === undefined) return again();
    c.addMembers(r.room, users).then(
      () => count(r, "added"),
      (e: unknown) => {
        count(r, `add failed ${failure(e)}`);
        again();
      },
    );
  };
  w.at(atMs, label, () => {
    w.access.admit(r.room, users);
    attempt(5);
  });
}

/** `name` (an honest device or an attacker's) tries to join by external commit at each time. */
export function joinAttempts(r: ScenarioRun, name: string, atMs: readonly number[]): void {
  const { w } = r;
  for (const at of atMs) {
    w.at(at, `${name} joins by external commit`, () => {
      const c = (w.clients.get(name) ?? w.attackers.get(name))?.client;
      if (c === undefined) return;
      c.joinExternal(r.room).then(
        () => count(r, "joined"),
        (e: unknown) => count(r, `join refused ${failure(e)}`),
      );
    });
  }
}

/** The number of join attempts that were refused, whatever the reason. */
export function refusedJoins(r: ScenarioRun): number {
  return Object.entries(r.notes)
    .filter(([k]) => k.startsWith("join refused "))
    .reduce((n, [, v]) => n + v, 0);
}

/** Whether the hub's tree holds a leaf under `user`'s name. */
export function isMember(r: ScenarioRun, user: string): boolean | undefined {
  const room = r.w.hub.room(r.room);
  return room?.group.members().some((m) => m.userId === user);
}

/** A violation of `invariant` unless `user` is (or is not) a member at the end. */
export function expectMember(
  r: ScenarioRun,
  user: string,
  member: boolean,
  invariant: string,
): void {
  const has = isMember(r, user);
  if (has !== undefined && has !== member) {
    r.w.violation(invariant, `${user} is ${has ? "" : "not "}a member at the end`);
  }
}
