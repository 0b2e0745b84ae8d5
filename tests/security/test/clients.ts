/**
 * A file's fixture: one kalandrad with the default configuration, a bystander session on
 * it, and real client cores (clientCores.ts) for the users at stake (drained users, offline
 * invitees, a room whose log is synced), closed after the file.
 */
import { afterAll, beforeAll } from "vitest";
import { closeUser, openUser, type User } from "./clientCores.js";
import { RawSession, type SecurityHub, startHub } from "./hub.js";

export type { User };

/** Drops the user's session: the hub sees the device go away until `u.reconnect()`. */
export function goOffline(u: User): void {
  u.client.disconnect();
  u.conn.close();
}

export function hubWithUsers(): {
  hub: () => SecurityHub;
  bystander: () => RawSession;
  /** A connected user (its key packages uploaded: `keyPackageTarget` 2 and a last-resort one). */
  user: (id: string) => Promise<User>;
} {
  let hub: SecurityHub | undefined;
  let bystander: RawSession | undefined;
  const users: User[] = [];
  beforeAll(async () => {
    hub = await startHub();
    bystander = await RawSession.open(hub, "bystander");
  });
  afterAll(async () => {
    for (const u of users) closeUser(u);
    bystander?.close();
    await hub?.stop();
  });
  const must = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("the hub is not started");
    return v;
  };
  return {
    hub: () => must(hub),
    bystander: () => must(bystander),
    async user(id) {
      const u = await openUser(must(hub), id);
      users.push(u);
      return u;
    },
  };
}
