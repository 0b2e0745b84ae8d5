/** A relay plus real clients wired to it, and helpers to wait for them to converge. */
import { systemTimers } from "@kalandra/proto";
import { waitUntil } from "@kalandra/test-support";
import type { CiphersuiteImpl } from "ts-mls";
import { KalandraClient, type KalandraClientOptions } from "../../src/client.js";
import type { ClientEvent } from "../../src/state/events.js";
import { type ClientStore, MemoryStore } from "../../src/store.js";
import { seededRng, suite, wallStartedClock } from "./env.js";
import { Relay, type RelayConnection, type RelayOptions } from "./relay.js";

export interface TestClient<S extends ClientStore = MemoryStore> {
  userId: string;
  client: KalandraClient;
  conn: RelayConnection;
  store: S;
  events: ClientEvent[];
  /** Plaintexts received per room, as text, in log order. */
  texts(roomId: bigint): string[];
}

export class World {
  readonly clock = wallStartedClock();
  readonly timers = systemTimers();
  #opened = 0;
  private constructor(
    readonly cs: CiphersuiteImpl,
    readonly relay: Relay,
    readonly seed: string,
  ) {}

  static async create(seed: string, opts: Partial<RelayOptions> = {}): Promise<World> {
    const cs = await suite();
    return new World(cs, new Relay({ cs, rng: seededRng(`${seed}/hub`), ...opts }), seed);
  }

  client(
    userId: string,
    store?: MemoryStore,
    extra?: Partial<KalandraClientOptions>,
    loss?: number,
  ): Promise<TestClient>;
  client<S extends ClientStore>(
    userId: string,
    store: S,
    extra?: Partial<KalandraClientOptions>,
    loss?: number,
  ): Promise<TestClient<S>>;
  async client(
    userId: string,
    store: ClientStore = new MemoryStore(),
    extra: Partial<KalandraClientOptions> = {},
    loss = 0,
  ): Promise<TestClient<ClientStore>> {
    const conn = this.relay.connect(seededRng(`${this.seed}/${userId}/loss`));
    conn.loss = loss;
    const n = this.#opened++;
    const rng = seededRng(`${this.seed}/${userId}/${n}`);
    const client = await KalandraClient.open({
      connection: conn,
      clock: this.clock,
      rng,
      timers: this.timers,
      store,
      hubPublicKey: this.relay.hubPublicKey,
      cs: await suite(`${this.seed}/${userId}/cs/${n}`),
      userId,
      requestPolicy: { retryMs: 300, maxAttempts: 40 },
      keyPackageTarget: 3,
      ...extra,
    });
    const events: ClientEvent[] = [];
    client.on((e) => events.push(e));
    await client.connect();
    const td = new TextDecoder();
    return {
      userId,
      client,
      conn,
      store,
      events,
      texts: (roomId) =>
        events
          .filter((e) => e.type === "message" && e.roomId === roomId)
          .map((e) => (e.type === "message" ? td.decode(e.plaintext) : "")),
    };
  }
}

/** Waits on real time until `cond` holds; fails naming `what` after `timeoutMs`. */
export function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  return waitUntil(cond, what, { timeoutMs, intervalMs: 5 });
}

/** Waits until every client sits at `epoch` in `roomId`, synchronized. */
export function waitEpoch(
  clients: TestClient<ClientStore>[],
  roomId: bigint,
  epoch: bigint,
): Promise<void> {
  return waitFor(
    () =>
      clients.every(
        (c) =>
          c.client.room(roomId)?.phase.kind === "synchronized" &&
          c.client.room(roomId)?.epoch === epoch,
      ),
    `epoch ${epoch} at ${clients.map((c) => `${c.userId}:${c.client.room(roomId)?.phase.kind}/${c.client.room(roomId)?.epoch}`).join(",")}`,
  );
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
