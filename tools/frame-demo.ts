/**
 * `pnpm demo`: a tour of the Kalandra wire format (docs/protocol.md). Builds a few signed
 * frames, streams them through the decoder in awkward chunks, verifies signatures, lets a
 * "sequencer" stamp order and time, and shows a tampered frame being refused.
 * Deterministic output (fixed demo keys); exits 0.
 */
import { createHash } from "node:crypto";
import {
  createDeviceSigner,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  Frame,
  HUB_SENDER_ID,
  Opcode,
  opcodeName,
  ProtocolError,
  responseFrame,
  StreamDecoder,
  stampFrame,
  verifyFrame,
} from "@kalandra/proto";

const seedOf = (label: string) => new Uint8Array(createHash("sha256").update(label).digest());
const alice = createDeviceSigner(seedOf("kalandra demo: alice's device"));
const hub = createDeviceSigner(seedOf("kalandra demo: hub"));
const aliceId = deriveSenderId(alice.publicKey);
const room = 0x6b616c616e647261_0000000000000001n;
const hex = (b: Uint8Array, max = 16) =>
  Buffer.from(b.subarray(0, max)).toString("hex") + (b.length > max ? "…" : "");
const show = (v: unknown) =>
  JSON.stringify(v, (_k, x) =>
    typeof x === "bigint" ? `${x}n` : x instanceof Uint8Array ? `<${x.length} bytes>` : x,
  );

console.log("Kalandra frame demo: 128-byte signed header + strict CBOR payload\n");
console.log(`alice device key ${hex(alice.publicKey, 32)}\n  sender_id ${aliceId}`);
console.log(`hub key          ${hex(hub.publicKey, 32)}\n  sender_id ${HUB_SENDER_ID}\n`);

// 1. Alice builds and signs three requests.
const requests = [
  encodeFrame(
    {
      opcode: Opcode.HELLO,
      requestId: 1,
      roomId: 0n,
      senderId: aliceId,
      epoch: 0n,
      payload: encodePayload(Opcode.HELLO, {
        device_key: alice.publicKey,
        user_id: "alice",
        client: "frame-demo/1",
      }),
    },
    alice,
  ),
  encodeFrame(
    {
      opcode: Opcode.APP_MESSAGE,
      requestId: 2,
      roomId: room,
      senderId: aliceId,
      epoch: 3n,
      payload: encodePayload(Opcode.APP_MESSAGE, {
        generation: 0,
        ciphertext: seedOf("pretend this is XChaCha20-Poly1305 ciphertext"),
      }),
    },
    alice,
  ),
  encodeFrame(
    {
      opcode: Opcode.TYPING,
      requestId: 3,
      roomId: room,
      senderId: aliceId,
      epoch: 3n,
      payload: encodePayload(Opcode.TYPING, { typing: true }),
    },
    alice,
  ),
];

// 2. They travel as one byte stream, cut into 50-byte chunks; the decoder reassembles them.
const stream = Buffer.concat(requests);
const decoder = new StreamDecoder();
const received: Frame[] = [];
for (let o = 0; o < stream.length; o += 50)
  received.push(...decoder.push(stream.subarray(o, o + 50)));
decoder.end();
console.log(`stream of ${stream.length} bytes in 50-byte chunks → ${received.length} frames\n`);

// 3. The hub checks each, stamps sequenced ones, and answers with a signed ACK.
let nextIndex = 0n;
for (const frame of received) {
  const h = frame.header;
  const name = opcodeName(h.opcode) ?? "?";
  const ok = verifyFrame(frame, alice.publicKey);
  const payload = decodePayload(h.opcode as Opcode, frame.payload);
  console.log(`${name.padEnd(12)} req=${h.requestId} room=${h.roomId} epoch=${h.epoch}`);
  console.log(`  payload ${frame.payload.length} B ${show(payload)}`);
  console.log(`  signature ${hex(h.signature)} verifies: ${ok}`);
  if (h.opcode === Opcode.APP_MESSAGE) {
    const stamped = Frame.fromWire(stampFrame(frame.toWire(), nextIndex, 0x0000_0193_0000_0001n));
    console.log(
      `  sequenced: log_index=${stamped.header.logIndex} hlc=${stamped.header.hlcTimestamp}` +
        ` still verifies: ${verifyFrame(stamped, alice.publicKey)}`,
    );
    const ack = Frame.fromWire(
      responseFrame(
        hub,
        h,
        Opcode.ACK,
        {},
        {
          logIndex: nextIndex,
          hlcTimestamp: 0x0000_0193_0000_0001n,
        },
      ),
    );
    console.log(
      `  hub ACK: flags=0b${ack.header.flags.toString(2)} log_index=${ack.header.logIndex}` +
        ` signed by hub: ${verifyFrame(ack, hub.publicKey)}`,
    );
    nextIndex++;
  }
}

// 4. Tampering: one flipped bit in the payload breaks the signature; garbage is refused.
const tampered = requests[1]!.slice();
tampered[tampered.length - 1]! ^= 1;
console.log(
  `\ntampered APP_MESSAGE verifies: ${verifyFrame(Frame.fromWire(tampered), alice.publicKey)}`,
);
for (const [label, bytes] of [
  ["garbage", new Uint8Array(200).fill(0x42)],
  ["truncated", requests[0]!.subarray(0, 140)],
] as const) {
  try {
    Frame.fromWire(bytes);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    console.log(`${label}: rejected with ${e.code} (${e.numeric})`);
  }
}
console.log("\nok");
