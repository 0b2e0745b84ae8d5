/**
 * Child process of the sequencer crash test: opens the hub core over the LMDB directory
 * (real fsyncs), then sequences APP_MESSAGEs from the room's member as fast as it can,
 * 256 in flight, printing `ack <log_index> <request_id>` for each ACK the hub sent (an
 * ACK is only sent once its frame is durable). The parent kills it with SIGKILL.
 *
 * argv: <dir> <roomId> <seedHex> <firstRequestId>
 */
import {
  createDeviceSigner,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  Frame,
  Opcode,
  systemClock,
  systemRng,
  systemTimers,
} from "@kalandra/proto";
import { HubCore } from "../../src/hub/hubCore.js";
import { publicGroupViews } from "../../src/sequencer/publicGroupViews.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { crashPayload } from "./crashPayload.js";

const [dir, roomArg, seedHex, firstArg] = process.argv.slice(2);
const roomId = BigInt(roomArg!);
const signer = createDeviceSigner(Buffer.from(seedHex!, "hex"));
const senderId = deriveSenderId(signer.publicKey);
const storage = await openLmdbStorage({ path: dir! });
const hub = await HubCore.open({
  storage,
  clock: systemClock,
  rng: systemRng,
  timers: systemTimers(),
  hubSigner: createDeviceSigner(new Uint8Array(32).fill(9)),
  sink: (target, bytes) => {
    if (target.kind !== "session") return;
    const h = Frame.fromWire(bytes).header;
    if (h.opcode === Opcode.ACK) process.stdout.write(`ack ${h.logIndex} ${h.requestId}\n`);
  },
  groups: publicGroupViews(),
});
hub.attachSession("s", signer.publicKey, "alice");
process.stdout.write("ready\n");
let requestId = Number(firstArg);
const send = (): void => {
  const id = requestId++;
  const bytes = encodeFrame(
    {
      opcode: Opcode.APP_MESSAGE,
      requestId: id,
      roomId,
      senderId,
      epoch: 0n,
      payload: encodePayload(Opcode.APP_MESSAGE, crashPayload(id)),
    },
    signer,
  );
  void hub.handleFrame("s", senderId, bytes).then(send);
};
for (let i = 0; i < 256; i++) send();
