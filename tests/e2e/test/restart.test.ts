/**
 * End to end (issue 7 "What it must show"): kalandrad as a child process with the real hub
 * core and LMDB, real client cores (MLS + sender keys) over WebTransport. Create a room,
 * add members, chat, remove a member, restart the hub with SIGTERM and then with SIGKILL
 * on the same port and data directory, and continue: every member sees every message
 * once, in one order, and the removed member sees nothing sent after its removal.
 *
 * This scenario used to fail in about one run of two: a member's own request (an
 * APP_MESSAGE sent while its session was reconnecting) was "never answered" and the client
 * gave up after 60 s. The hub had answered it. After the reconnect the client core's
 * resume (`resumeInflight`) asked the same request again, with the same request_id, while
 * the first ask still waited, and the RequestTracker replaced the first ask's entry: the
 * hub's answer resolved the second ask, the first caller's timer resent it until its
 * attempts ran out. Fixed in packages/client/src/state/requests.ts (both asks share the
 * one answer; test/state/requests.test.ts "a request asked twice").
 *
 * If this fails, the error carries a step/state trace; `E2E_HUB_LOG=/tmp/hub.log` keeps
 * the hub's debug log.
 */
import {
  connectWebTransport,
  type KalandraClient,
  type WebTransportConnection,
} from "@kalandra/client";
import { decodeErrorPayload, FrameHeader, HEADER_SIZE, Opcode } from "@kalandra/proto";
import { freePort, tempDir, waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Hub, openClient, startHub as startKalandrad, stopHub } from "./kalandrad.js";

const data = tempDir("e2e");
const startHub = (port: number) => startKalandrad(data.path, port);

interface User {
  id: string;
  client: KalandraClient;
  conn: WebTransportConnection;
  texts: string[];
}

const trace: string[] = [];
const t0 = Date.now();
const step = (s: string) => trace.push(`${Date.now() - t0} step ${s}`);
let port: number;
let hub: Hub;
const users: User[] = [];

async function user(id: string): Promise<User> {
  const client = await openClient(id, hub.hubKey);
  const conn = await connectWebTransport({
    url: `https://127.0.0.1:${port}/kalandra`,
    certHash: hub.certHash,
    deviceSigner: client.signer,
    userId: id,
    hubPublicKey: hub.hubKey,
    backoff: { initialMs: 50, maxMs: 500 },
  });
  conn.onReconnect(() => void client.connect().catch(() => undefined));
  const u: User = { id, client, conn, texts: [] };
  conn.onStateChange((st) => trace.push(`${Date.now() - t0} ${id} ${st}`));
  conn.onFrame((f) => {
    const h = FrameHeader.view(f);
    if (h.opcode === Opcode.ERROR && trace.length < 400)
      trace.push(
        `${Date.now() - t0} ${id} ERROR req ${h.requestId} ${decodeErrorPayload(f.subarray(HEADER_SIZE)).name}`,
      );
  });
  const td = new TextDecoder();
  client.on((e) => {
    if (e.type === "message") u.texts.push(td.decode(e.plaintext));
  });
  await client.reconnect(conn);
  users.push(u);
  return u;
}

/** Waits (real time, bounded) until `pred` holds; fails naming `what`. */
const until = (pred: () => boolean, what: string, ms = 30_000): Promise<void> =>
  waitUntil(pred, what, { timeoutMs: ms, intervalMs: 20 });

const enc = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  port = await freePort();
  hub = await startHub(port);
});

afterAll(async () => {
  for (const u of users) {
    u.client.close();
    u.conn.close();
  }
  await stopHub(hub);
  data.cleanup();
});

it("create, add, chat, remove, survive SIGTERM and SIGKILL restarts with nothing lost", {
  timeout: 120_000,
}, async () => {
  try {
    await scenario();
  } catch (e) {
    throw new Error(`${(e as Error).message}\ntrace:\n${trace.join("\n")}`);
  }
});

async function scenario(): Promise<void> {
  const [alice, bob, carol] = [await user("alice"), await user("bob"), await user("carol")];
  if (!alice || !bob || !carol) throw new Error("users");
  step("create");
  const room = await alice.client.createRoom();
  await bob.client.expectWelcome(room);
  await carol.client.expectWelcome(room);
  step("add");
  await alice.client.addMembers(room, ["bob", "carol"]);
  const synced = (us: User[], epoch: bigint) =>
    us.every(
      (u) =>
        u.client.room(room)?.phase.kind === "synchronized" && u.client.room(room)?.epoch === epoch,
    );
  await until(() => synced([alice, bob, carol], 1n), "epoch 1");

  step("chat");
  await alice.client.send(room, enc("a1"));
  await bob.client.send(room, enc("b1"));
  await carol.client.send(room, enc("c1"));
  await until(() => [alice, bob, carol].every((u) => u.texts.length === 3), "3 messages");

  step("remove");
  await alice.client.removeMembers(room, ["carol"]);
  await until(() => synced([alice, bob], 2n), "epoch 2").catch((e) => {
    const st = (u: User) =>
      `${u.id}:${u.client.room(room)?.phase.kind}/${u.client.room(room)?.epoch}`;
    throw new Error(`${(e as Error).message} ${[alice, bob, carol].map(st).join(" ")}`);
  });
  await alice.client.send(room, enc("a2"));
  await until(() => bob.texts.includes("a2"), "a2 at bob");

  step("sigterm");
  hub.child.kill("SIGTERM");
  expect(await hub.exit).toBe(0);
  hub = await startHub(port);
  await until(
    () => alice.conn.state === "open" && bob.conn.state === "open",
    "reconnected after SIGTERM",
  );
  await until(() => synced([alice, bob], 2n), "resynced after SIGTERM");
  step("b2");
  await bob.client.send(room, enc("b2"));
  await until(() => alice.texts.includes("b2"), "b2 at alice");

  step("sigkill");
  hub.child.kill("SIGKILL");
  await hub.exit;
  const pending = alice.client.send(room, enc("a3")); // sent while the hub is down
  hub = await startHub(port);
  step("await a3");
  await pending;
  await until(() => synced([alice, bob], 2n), "resynced after SIGKILL");
  step("b3");
  await bob.client.send(room, enc("b3"));
  await until(
    () => ["a3", "b3"].every((m) => alice.texts.includes(m) && bob.texts.includes(m)),
    "a3 and b3 everywhere",
  );

  const expected = ["a1", "b1", "c1", "a2", "b2", "a3", "b3"];
  expect(alice.texts.filter((t) => expected.includes(t)).sort()).toEqual([...expected].sort());
  expect(bob.texts).toEqual(alice.texts);
  expect(new Set(alice.texts).size).toBe(alice.texts.length);
  expect(carol.texts).toEqual(["a1", "b1", "c1"]);
}
