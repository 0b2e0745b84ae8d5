/**
 * What an npm consumer writes, run by the pack check (tools/pack/check.ts) inside an empty
 * project that installed the packed tarballs with plain npm: compiled there with tsc
 * against the tarballs' declarations, then run with node. For each transport, alice
 * creates a room, adds bob, and a message goes each way through the real kalandrad that
 * the check started from the installed @kalandra/server. Prints one JSON line.
 *
 * Usage: node consumer.js '{"websocket":"ws://…","webtransport":"https://…","certHash":"…","hubKey":"…"}'
 */
import {
  connectWebSocket,
  connectWebTransport,
  getKalandraCiphersuiteImpl,
  type HubConnection,
  KalandraClient,
  MemoryStore,
} from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";

interface Hub {
  websocket: string;
  webtransport: string;
  certHash: string;
  hubKey: string;
}
type Transport = "websocket" | "webtransport";

const hub = JSON.parse(process.argv[2] ?? "{}") as Hub;
const fromHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
const hubKey = fromHex(hub.hubKey);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function until(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function user(id: string, transport: Transport) {
  const offline = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
  const client = await KalandraClient.open({
    connection: offline,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey: hubKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId: id,
  });
  const common = { deviceSigner: client.signer, userId: id, hubPublicKey: hubKey };
  const conn: HubConnection =
    transport === "websocket"
      ? await connectWebSocket({ url: hub.websocket, ...common })
      : await connectWebTransport({
          url: hub.webtransport,
          certHash: fromHex(hub.certHash),
          ...common,
        });
  const texts: string[] = [];
  client.on((e) => {
    if (e.type === "message" && !e.own) texts.push(`${e.userId}: ${dec(e.plaintext)}`);
  });
  await client.reconnect(conn);
  return { client, conn, texts };
}

async function exchange(transport: Transport) {
  const alice = await user(`alice-${transport}`, transport);
  const bob = await user(`bob-${transport}`, transport);
  try {
    const room = await alice.client.createRoom();
    await bob.client.expectWelcome(room);
    await alice.client.addMembers(room, [`bob-${transport}`]);
    await until(
      () => [alice, bob].every((u) => u.client.room(room)?.epoch === 1n),
      `${transport}: epoch 1 for both`,
    );
    await alice.client.send(room, enc(`hello over ${transport}`));
    await until(() => bob.texts.length === 1, `${transport}: bob receives`);
    await bob.client.send(room, enc(`hi back over ${transport}`));
    await until(() => alice.texts.length === 1, `${transport}: alice receives`);
    return { room: room.toString(), bob: bob.texts, alice: alice.texts };
  } finally {
    for (const u of [alice, bob]) {
      u.client.close();
      u.conn.close();
    }
  }
}

const deadline = setTimeout(() => {
  console.error("consumer: no result in 90 s");
  process.exit(1);
}, 90_000);
const result = {
  websocket: await exchange("websocket"),
  webtransport: await exchange("webtransport"),
};
clearTimeout(deadline);
console.log(JSON.stringify(result));
process.exit(0);
