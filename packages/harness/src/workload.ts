/**
 * The steps scenarios are made of: the room set up on a perfect network, messages and key
 * updates scheduled inside the chaos phase (each records its outcome, never awaits).
 */
import type { RoomAccessOptions } from "@kalandra/client";
import type { ScenarioRun } from "./scenario.js";

const te = new TextEncoder();

/**
 * u0 creates the room (invite-only unless `access` says otherwise, DESIGN §10) and adds
 * `others` in one commit; waits until everyone is in it.
 */
export async function roomWith(
  r: ScenarioRun,
  others: readonly string[],
  access?: RoomAccessOptions,
): Promise<void> {
  const { w } = r;
  r.room = await w.perform("create room", () => w.api("u0").createRoom(undefined, access));
  if (others.length > 0) await addAndWait(r, others);
}

/**
 * During setup: u0 admits `users` to the room and adds them in one commit; waits until
 * each is in it (throws if one is not within 30 virtual seconds).
 */
export async function addAndWait(r: ScenarioRun, users: readonly string[]): Promise<void> {
  const { w } = r;
  w.access.admit(r.room, users);
  await w.perform("add members", () => w.api("u0").addMembers(r.room, users));
  await w.runFor(30_000, () =>
    users.every((n) => w.client(n).client?.room(r.room)?.phase.kind === "synchronized"),
  );
  for (const n of users) {
    if (w.client(n).client?.room(r.room)?.phase.kind !== "synchronized") {
      throw new Error(`${n} did not join during setup`);
    }
  }
}

/** Sends `name:i` from `name` (a failure is fine: the sender may be down or removed). */
export function send(r: ScenarioRun, name: string, i: number, delayMs: number): void {
  r.w.at(delayMs, `send ${name}:${i}`, () => {
    const c = r.w.client(name).client;
    if (c === undefined) return;
    r.notes.sent = (r.notes.sent ?? 0) + 1;
    c.send(r.room, te.encode(`${name}:${i}`)).then(
      () => {
        r.notes.acked = (r.notes.acked ?? 0) + 1;
      },
      () => undefined,
    );
  });
}

export function update(r: ScenarioRun, name: string, delayMs: number): void {
  r.w.at(delayMs, `update ${name}`, () => {
    const c = r.w.client(name).client;
    if (c === undefined) return;
    c.update(r.room).then(
      () => {
        r.notes.updates = (r.notes.updates ?? 0) + 1;
      },
      () => undefined,
    );
  });
}
