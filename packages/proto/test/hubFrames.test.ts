import { describe, expect, it } from "vitest";
import { Frame } from "../src/frame.js";
import { ackFrame, errorFrame, hubFrame, isHubError, responseFrame } from "../src/hubFrames.js";
import { Flag, Opcode } from "../src/opcodes.js";
import { decodeErrorPayload, decodePayload } from "../src/payloads/codec.js";
import { generateDeviceKey, signFrame, verifyFrame } from "../src/signing.js";
import { seededRng } from "./helpers.js";

const hub = generateDeviceKey(seededRng("hub"));
const req = { requestId: 77, roomId: 5n, epoch: 3n };

describe("the frames the hub emits (hubFrames.ts)", () => {
  it("responses echo request_id, room_id and epoch, from sender 0, signed by the hub", () => {
    const f = Frame.fromWire(responseFrame(hub.signer, req, Opcode.PONG, { nonce: 9 }));
    expect(f.header.toFields()).toMatchObject({
      flags: Flag.RESPONSE,
      opcode: Opcode.PONG,
      requestId: 77,
      roomId: 5n,
      senderId: 0n,
      epoch: 3n,
      logIndex: 0n,
    });
    expect(decodePayload(Opcode.PONG, f.payload)).toEqual({ nonce: 9 });
    expect(verifyFrame(f, hub.publicKey)).toBe(true);
    const stamped = responseFrame(
      hub.signer,
      req,
      Opcode.ACK,
      {},
      {
        logIndex: 4n,
        hlcTimestamp: 6n,
        epoch: 8n,
      },
    );
    expect(Frame.fromWire(stamped).header.toFields()).toMatchObject({
      logIndex: 4n,
      hlcTimestamp: 6n,
      epoch: 8n,
    });
    // Already encoded payload bytes go through unchanged.
    const bytes = Frame.fromWire(
      responseFrame(hub.signer, { requestId: 1, roomId: 0n }, Opcode.PONG, f.payload),
    );
    expect(bytes.payload).toEqual(f.payload);
    expect(bytes.header.epoch).toBe(0n);
  });

  it("errors carry RESPONSE|ERROR and {code, name, message, expected_epoch?}, unsigned", () => {
    const f = Frame.fromWire(
      errorFrame(req, { code: "STALE_EPOCH", message: "late", expectedEpoch: 4n }),
    );
    expect(f.header.flags).toBe(Flag.RESPONSE | Flag.ERROR);
    expect(f.header.requestId).toBe(77);
    expect(decodeErrorPayload(f.payload)).toEqual({
      code: 300,
      name: "STALE_EPOCH",
      message: "late",
      expected_epoch: 4n,
    });
    // A refusal costs the hub no signature: the signature bytes are zero.
    expect(f.header.signature.every((b) => b === 0)).toBe(true);
    expect(verifyFrame(f, hub.publicKey)).toBe(false);
    expect(isHubError(f.header)).toBe(true);
    const plain = Frame.fromWire(
      errorFrame(
        { requestId: 2, roomId: 0n },
        {
          code: "RATE_LIMITED",
          message: "slow down",
        },
      ),
    );
    expect(decodeErrorPayload(plain.payload).expected_epoch).toBeUndefined();
  });

  it("isHubError: only an ERROR opcode with exactly RESPONSE|ERROR from sender 0", () => {
    const base = { opcode: Opcode.ERROR, flags: Flag.RESPONSE | Flag.ERROR, senderId: 0n };
    expect(isHubError(base)).toBe(true);
    expect(isHubError({ ...base, senderId: 5n })).toBe(false);
    expect(isHubError({ ...base, flags: Flag.RESPONSE })).toBe(false);
    expect(isHubError({ ...base, flags: Flag.ERROR })).toBe(false);
    expect(isHubError({ ...base, opcode: Opcode.ACK })).toBe(false);
  });

  it("ACKs are built unsigned, with the sequencer's stamp", () => {
    const bytes = ackFrame(req, 12n, 34n);
    const f = Frame.fromWire(bytes);
    expect(f.header.toFields()).toMatchObject({
      opcode: Opcode.ACK,
      logIndex: 12n,
      hlcTimestamp: 34n,
    });
    expect(f.header.signature.every((b) => b === 0)).toBe(true);
    signFrame(bytes, hub.signer);
    expect(verifyFrame(Frame.fromWire(bytes), hub.publicKey)).toBe(true);
  });

  it("hub-originated frames are EXTERNAL unless told otherwise", () => {
    const f = Frame.fromWire(
      hubFrame(hub.signer, Opcode.COMMIT_REQUEST, 5n, 3n, {
        epoch: 3n,
        pending: 1,
        deadline_ms: 100,
      }),
    );
    expect(f.header.flags).toBe(Flag.EXTERNAL);
    expect(f.header.senderId).toBe(0n);
    const g = Frame.fromWire(
      hubFrame(hub.signer, Opcode.KP_STATUS, 0n, 0n, { remaining: 2 }, 0, 9),
    );
    expect(g.header.flags).toBe(0);
    expect(g.header.requestId).toBe(9);
    expect(verifyFrame(g, hub.publicKey)).toBe(true);
  });
});
