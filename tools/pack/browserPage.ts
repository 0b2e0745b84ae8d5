/**
 * The packed libraries in a browser, run by the pack check (tools/pack/check.ts): bundled
 * with esbuild for the browser inside the project that npm-installed the tarballs (so
 * every import resolves to a tarball's browser build, never to workspace source), then
 * run in headless Chromium. Two clients on one page talk to the real kalandrad over
 * WebSocket: alice creates a room and adds bob (MLS create and join), a message goes each
 * way (encrypt, decrypt), and bob's exported notification keys open alice's next message
 * with `@kalandra/client/notify`, as a push process would. `/hub.json` tells it the hub.
 */
import { connectWebSocket, type HubConnection } from "@kalandra/client";
import { NotificationDecryptor } from "@kalandra/client/notify";
import { decodePayload, Frame, Opcode } from "@kalandra/proto";
import { fromHex, openUser, until } from "./fixtureClient.js";

interface Hub {
  websocket: string;
  hubKey: string;
}
interface Pushed {
  roomId: bigint;
  epoch: bigint;
  senderId: bigint;
  generation: number;
  ciphertext: Uint8Array;
}

/** The APP_MESSAGE frames a connection delivers, as a push service would forward them. */
function tapped(conn: HubConnection, pushed: Pushed[]): HubConnection {
  return {
    send: (frame) => conn.send(frame),
    close: () => conn.close(),
    onFrame: (cb) =>
      conn.onFrame((bytes) => {
        const f = Frame.fromWire(bytes);
        if (f.header.opcode === Opcode.APP_MESSAGE) {
          const p = decodePayload(Opcode.APP_MESSAGE, f.payload);
          pushed.push({
            roomId: f.header.roomId,
            epoch: f.header.epoch,
            senderId: f.header.senderId,
            generation: p.generation,
            ciphertext: p.ciphertext.slice(),
          });
        }
        cb(bytes);
      }),
  };
}

export default async function run() {
  const hub = (await (await fetch("/hub.json")).json()) as Hub;
  const hubPublicKey = fromHex(hub.hubKey);
  const pushed: Pushed[] = [];
  const user = (userId: string) =>
    openUser(userId, hubPublicKey, async (deviceSigner) => {
      const conn = await connectWebSocket({
        url: hub.websocket,
        deviceSigner,
        userId,
        hubPublicKey,
      });
      return userId === "bob-browser" ? tapped(conn, pushed) : conn;
    });
  const alice = await user("alice-browser");
  const bob = await user("bob-browser");
  try {
    const room = await alice.client.createRoom();
    await bob.client.expectWelcome(room);
    await alice.client.addMembers(room, ["bob-browser"]);
    await until(() => [alice, bob].every((u) => u.client.room(room)?.epoch === 1n), "epoch 1");
    await alice.client.send(room, { t: "text", body: "hello from alice" });
    await until(() => bob.heard.length === 1, "bob hears alice");
    await bob.client.send(room, { t: "text", body: "hello from bob" });
    await until(() => alice.heard.length === 1, "alice hears bob");

    // Notification keys exported now cover alice's next message (its chain moved on).
    const blob = await bob.client.exportNotificationKeys();
    const before = pushed.length;
    await alice.client.send(room, { t: "text", body: "pushed to bob's phone" });
    await until(() => bob.heard.length === 2 && pushed.length > before, "the pushed message");
    const m = pushed.at(-1) as Pushed;
    const leaf = bob.client.leaves(room)?.find((l) => l.senderId === m.senderId)?.leaf;
    if (leaf === undefined) throw new Error("the pushed message's sender is not in the room");
    const decryptor = NotificationDecryptor.fromBlob(blob);
    const envelope = decryptor.decrypt({ ...m, senderLeaf: leaf });
    return {
      bob: bob.heard,
      alice: alice.heard,
      notify: envelope.t === "text" ? envelope.body : envelope.t,
      blobBytes: blob.length,
    };
  } finally {
    for (const u of [alice, bob]) {
      u.client.close();
      u.conn.close();
    }
  }
}
