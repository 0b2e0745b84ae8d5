/**
 * Moderation end to end (issue 8) with real cores: KalandraClient devices talk to a real
 * HubCore through the runtime's Session (auth handshake included) over an in-memory
 * connection. The hub kicks a member as the rooms' MLS external sender; a member commits
 * the removal when the hub asks; the kicked member decrypts nothing sent after that commit
 * (even when handed the frame), the others carry on; a joiner racing the removal is
 * refused with MUST_INCLUDE_PENDING_REMOVALS and gets in after the commit; a redaction
 * reaches the clients as a REDACTION notice.
 */
import { generateKeyPairSync } from "node:crypto";
import {
  type ClientEvent,
  getKalandraCiphersuiteImpl,
  type HubConnection,
  KalandraClient,
  MemoryStore,
} from "@kalandra/client";
import {
  decodePayload,
  Flag,
  FrameHeader,
  Opcode,
  systemClock,
  systemRng,
  systemTimers,
} from "@kalandra/proto";
import { ed25519KeySigner, ed25519RawPublicKey } from "@kalandra/proto/node";
import {
  HubCore,
  type HubKey,
  loadModerationState,
  MemoryStorage,
  Moderation,
  publicGroupViews,
  Session,
  shardModeration,
  type Target,
  TokenBucket,
} from "@kalandra/server";
import { afterEach, describe, expect, it } from "vitest";

const te = new TextEncoder();
const td = new TextDecoder();

interface Wire {
  conn: HubConnection;
  /** Every frame the hub sent to this connection. */
  received: Uint8Array[];
  /** Hands a frame to the client as if the hub had sent it. */
  inject(frame: Uint8Array): void;
}

/** One hub and the in-memory links of its clients (async delivery, both ways). */
class World {
  readonly storage = new MemoryStorage();
  readonly hubKey: HubKey;
  readonly timers = systemTimers();
  readonly sessions = new Map<string, Session>();
  hub!: HubCore;
  moderation!: Moderation;
  private seq = 0;

  constructor() {
    const { privateKey } = generateKeyPairSync("ed25519");
    this.hubKey = { privateKey, publicKey: ed25519RawPublicKey(privateKey) };
  }

  async open(): Promise<void> {
    const { bans, retention } = loadModerationState(this.storage);
    this.hub = await HubCore.open({
      storage: this.storage,
      clock: systemClock,
      rng: systemRng,
      timers: this.timers,
      hubSigner: ed25519KeySigner(this.hubKey.privateKey),
      sink: (t, f) => this.route(t, f),
      groups: publicGroupViews(this.hubKey.publicKey),
      limits: { commitDelayMs: 20, commitDeadlineMs: 400 },
      bans,
      shardModeration,
    });
    this.moderation = new Moderation({
      hub: this.hub,
      storage: this.storage,
      clock: systemClock,
      timers: this.timers,
      bans,
      retention,
    });
  }

  /** While set, COMMIT_REQUESTs are held back (a joiner gets to race a pending removal). */
  holdCommitRequests = false;
  private held: (() => void)[] = [];

  releaseCommitRequests(): void {
    this.holdCommitRequests = false;
    for (const f of this.held.splice(0)) f();
  }

  private route(t: Target, frame: Uint8Array): void {
    if (this.holdCommitRequests && FrameHeader.view(frame).opcode === Opcode.COMMIT_REQUEST) {
      this.held.push(() => this.route(t, frame));
      return;
    }
    const ids =
      t.kind === "session"
        ? [t.sessionId]
        : t.kind === "device"
          ? this.hub.sessionsOf(t.senderId)
          : t.senderIds.flatMap((s) => this.hub.sessionsOf(s));
    for (const id of ids) this.sessions.get(id)?.deliver(frame);
  }

  connect(): Wire {
    const id = `s${++this.seq}`;
    let cb: ((f: Uint8Array) => void) | undefined;
    const received: Uint8Array[] = [];
    const session = new Session({
      id,
      io: {
        send: (f) => {
          const copy = new Uint8Array(f);
          received.push(copy);
          setImmediate(() => cb?.(copy));
        },
        close: () => undefined,
      },
      hub: this.hubKey,
      handler: this.hub,
      limits: {
        maxPayloadBytes: 16 << 20,
        connectionRatePerSec: 1e6,
        connectionBurst: 1e6,
        maxStrikes: 1000,
        authTimeoutMs: 60_000,
      },
      clock: systemClock,
      rng: systemRng,
      timers: this.timers,
      deviceBucket: () => new TokenBucket(1e6, 1e6, systemClock),
    });
    this.sessions.set(id, session);
    return {
      received,
      inject: (f) => setImmediate(() => cb?.(f)),
      conn: {
        send: (f) => {
          const copy = new Uint8Array(f);
          setImmediate(() => session.onBytes(copy));
        },
        onFrame: (c) => {
          cb = c;
        },
        close: () => {
          this.sessions.delete(id);
          session.close("client closed");
        },
      },
    };
  }

  async client(userId: string): Promise<{ c: KalandraClient; wire: Wire; events: ClientEvent[] }> {
    const wire = this.connect();
    const c = await KalandraClient.open({
      connection: wire.conn,
      clock: systemClock,
      rng: systemRng,
      timers: this.timers,
      store: new MemoryStore(),
      hubPublicKey: this.hubKey.publicKey,
      cs: getKalandraCiphersuiteImpl(systemRng),
      userId,
    });
    const events: ClientEvent[] = [];
    c.on((e) => events.push(e));
    await c.connect();
    this.clients.push(c);
    return { c, wire, events };
  }

  readonly clients: KalandraClient[] = [];

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    await this.moderation.stop();
    await this.hub.close();
  }
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const texts = (events: ClientEvent[]) =>
  events.flatMap((e) => (e.type === "message" ? [td.decode(e.plaintext)] : []));

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe("moderation with real client cores", () => {
  it("a kicked member decrypts nothing sent after its removal; the others continue; the eviction race", async () => {
    world = new World();
    await world.open();
    const alice = await world.client("alice");
    const bob = await world.client("bob");
    const carol = await world.client("carol");
    const roomId = await alice.c.createRoom();
    await alice.c.addMembers(roomId, ["bob", "carol"]);
    await until("bob and carol joined", () =>
      [bob, carol].every((x) => x.c.room(roomId)?.epoch === 1n),
    );

    await alice.c.send(roomId, te.encode("before the kick"));
    await until("carol got the first message", () =>
      texts(carol.events).includes("before the kick"),
    );

    // Kick carol: the hub proposes, the sequencer asks alice or bob to commit (held back
    // for now, so that a joiner can race the pending removal).
    world.holdCommitRequests = true;
    const kicked = await world.moderation.kick(roomId, "carol", "spam", "admin:test");
    expect(kicked).toMatchObject({ ok: true, leaves: [2] });
    expect(world.hub.shards.count).toBe(1);

    // A joiner racing the removal: refused with MUST_INCLUDE_PENDING_REMOVALS.
    const dave = await world.client("dave");
    // The client retries a refused external commit a few times, then gives up.
    await expect(dave.c.joinExternal(roomId)).rejects.toThrow(/retries_exhausted/);
    const refusals = dave.wire.received
      .filter((f) => (FrameHeader.view(f).flags & Flag.ERROR) !== 0)
      .map((f) => decodePayload(Opcode.ERROR, f.subarray(128)).name);
    expect(refusals.length).toBeGreaterThan(0);
    expect(new Set(refusals)).toEqual(new Set(["MUST_INCLUDE_PENDING_REMOVALS"]));
    expect(carol.c.room(roomId)?.epoch).toBe(1n);

    // Now a member the hub asked commits the removal.
    world.releaseCommitRequests();
    await until("carol removed", () => carol.events.some((e) => e.type === "removed"));
    await until("alice and bob at the removal epoch", () =>
      [alice, bob].every((x) => (x.c.room(roomId)?.epoch ?? 0n) >= 2n),
    );
    // After the removal commit the joiner gets in.
    await dave.c.joinExternal(roomId);
    expect(dave.c.room(roomId)?.members).not.toContain("carol");
    const removalEpoch = 2n;
    expect(alice.c.room(roomId)?.members).toEqual(expect.not.arrayContaining(["carol"]));

    // After the removal: alice sends; bob and dave read it, carol does not.
    const carolSeen = carol.wire.received.length;
    await alice.c.send(roomId, te.encode("after the kick"));
    await until("bob got it", () => texts(bob.events).includes("after the kick"));
    await until("dave got it", () => texts(dave.events).includes("after the kick"));
    // Even handed every frame sent after its removal, carol decrypts none of them.
    const later = bob.wire.received.filter((f) => {
      const h = FrameHeader.view(f);
      return h.opcode === Opcode.APP_MESSAGE && h.epoch >= removalEpoch;
    });
    expect(later.length).toBeGreaterThan(0);
    for (const f of later) carol.wire.inject(f);
    await new Promise((r) => setTimeout(r, 100));
    expect(texts(carol.events)).toEqual(["before the kick"]);
    expect(carol.c.room(roomId)?.phase).toEqual({ kind: "removed" });
    expect(carol.wire.received.length).toBe(carolSeen); // the hub sent her nothing new
    await expect(carol.c.send(roomId, te.encode("let me in"))).rejects.toThrow(/removed/);

    // The others continue without interruption.
    await bob.c.send(roomId, te.encode("bob still here"));
    await until("alice got bob's", () => texts(alice.events).includes("bob still here"));
    for (const [n, x] of Object.entries({ alice, bob, dave }))
      expect(
        x.events.filter((e) => e.type === "error" || e.type === "rejected"),
        n,
      ).toEqual([]);

    // Redaction reaches the members as a REDACTION notice.
    const idx = await bob.c.send(roomId, te.encode("oops, a secret"));
    await until("alice got the secret", () => texts(alice.events).includes("oops, a secret"));
    const red = await world.moderation.redact(roomId, idx, "leak", "admin:test");
    expect(red.ok).toBe(true);
    await until("alice saw the redaction", () =>
      alice.events.some((e) => e.type === "redaction" && e.logIndex === idx),
    );
    expect(world.storage.readRange(roomId, idx, 1)[0]?.payload).toBeNull();
    expect(world.storage.readAudit().map((a) => a.kind)).toEqual(["kick", "redact"]);
  }, 120_000);
});
