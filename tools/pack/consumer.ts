/**
 * What an npm consumer writes, run by the pack check (tools/pack/check.ts) inside an empty
 * project that installed the packed tarballs with plain npm: compiled there with tsc
 * against the tarballs' declarations, then run with node. For each transport, alice
 * creates a room, adds bob, and a message goes each way through the real kalandrad that
 * the check started from the installed @kalandra/server. Prints one JSON line.
 *
 * Usage: node consumer.js '{"websocket":"ws://…","webtransport":"https://…","certHash":"…","hubKey":"…"}'
 */
import { connectWebSocket, connectWebTransport } from "@kalandra/client";
import { fromHex, openUser, until } from "./fixtureClient.js";

interface Hub {
  websocket: string;
  webtransport: string;
  certHash: string;
  hubKey: string;
}
type Transport = "websocket" | "webtransport";

const hub = JSON.parse(process.argv[2] ?? "{}") as Hub;
const hubPublicKey = fromHex(hub.hubKey);
const enc = (s: string) => new TextEncoder().encode(s);

const user = (userId: string, transport: Transport) =>
  openUser(userId, hubPublicKey, (deviceSigner) => {
    const common = { deviceSigner, userId, hubPublicKey };
    return transport === "websocket"
      ? connectWebSocket({ url: hub.websocket, ...common })
      : connectWebTransport({ url: hub.webtransport, certHash: fromHex(hub.certHash), ...common });
  });

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
    await until(() => bob.heard.length === 1, `${transport}: bob receives`);
    await bob.client.send(room, enc(`hi back over ${transport}`));
    await until(() => alice.heard.length === 1, `${transport}: alice receives`);
    return { room: room.toString(), bob: bob.heard, alice: alice.heard };
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
