/**
 * The client's session with the hub over time (docs/client.md "Connection"): connect
 * authenticates (unless the transport does), sends what was held, keeps the key package
 * stock and resumes every room from its last log_index; a lost connection marks the rooms
 * Disconnected; a new one repeats the whole. An optional timer syncs every room now and
 * then, so a lost fan-out frame with nothing after it is still found.
 */

import type { TimerHandle, Timers } from "@kalandra/proto";
import type { ClientContext } from "./context.js";
import { authenticate } from "./handshake.js";
import type { HelloAuthProvider } from "./helloAuth.js";
import type { HubConnection, HubLink } from "./hubLink.js";
import type { Intents } from "./intents.js";
import type { KeyPackageStock } from "./keyPackageStock.js";
import type { Room } from "./room.js";

export interface HubSessionOptions {
  timers: Timers;
  /** Periodic sync of every room, in ms (0 = off). */
  syncIntervalMs: number;
  /** The transport runs the handshake itself (WebTransport does, per session). */
  transportAuthenticates: boolean;
  /** What HELLO presents to prove the user (enrollment code, device link, token). */
  auth?: HelloAuthProvider;
}

export class HubSession {
  readonly #o: HubSessionOptions;
  readonly #c: ClientContext;
  readonly #link: HubLink;
  readonly #stock: KeyPackageStock;
  readonly #intents: Intents;
  #syncTimer: TimerHandle | undefined;

  constructor(
    o: HubSessionOptions,
    c: ClientContext,
    link: HubLink,
    stock: KeyPackageStock,
    intents: Intents,
  ) {
    this.#o = o;
    this.#c = c;
    this.#link = link;
    this.#stock = stock;
    this.#intents = intents;
  }

  async connect(): Promise<void> {
    const { pingMs } = this.#o.transportAuthenticates
      ? { pingMs: this.#link.connectionPingMs }
      : await this.#link.handshake(() =>
          authenticate(this.#link, this.#c.device, this.#c.apply.hubPublicKey, this.#o.auth),
        );
    this.#link.resendAll();
    this.#link.watch(pingMs);
    await this.#stock.fillIfEmpty();
    await Promise.all([...this.#c.rooms.values()].map((r) => this.#resume(r)));
    this.#armPeriodicSync();
  }

  disconnect(): void {
    this.#link.goOffline();
    for (const r of this.#c.rooms.values()) r.synced = false;
  }

  async reconnect(connection: HubConnection): Promise<void> {
    this.#link.replace(connection);
    await this.connect();
  }

  close(): void {
    if (this.#syncTimer !== undefined) this.#o.timers.clear(this.#syncTimer);
    this.#syncTimer = undefined;
    this.#link.close();
  }

  async #resume(room: Room): Promise<void> {
    if (room.removed || room.state === undefined) return;
    await this.#c.sync.syncRoom(room);
    // Own frames still in flight after the sync were not sequenced: ask again with the same
    // request_id (the hub answers a repeat with its first answer) or drop them if stale.
    await this.#intents.resumeInflight(room);
  }

  #armPeriodicSync(): void {
    const every = this.#o.syncIntervalMs;
    if (every <= 0 || this.#syncTimer !== undefined || this.#link.closed) return;
    this.#syncTimer = this.#o.timers.set(every, () => {
      this.#syncTimer = undefined;
      if (this.#link.closed) return;
      for (const r of this.#c.rooms.values())
        if (r.state !== undefined && !r.removed)
          void this.#c.sync.syncRoom(r).catch(() => undefined);
      this.#armPeriodicSync();
    });
  }
}
