/** The public API other packages build against (docs/contracts.md, issue 2): names are fixed. */
import { describe, expect, it } from "vitest";
import * as proto from "../src/index.js";

describe("@kalandra/proto public API", () => {
  it("exports every fixed name", () => {
    const names = [
      "HEADER_SIZE",
      "MAGIC",
      "VERSION",
      "DEFAULT_MAX_PAYLOAD",
      "FrameHeader",
      "writeHeader",
      "stampSequence",
      "validateHeader",
      "Frame",
      "encodeFrame",
      "StreamDecoder",
      "encodePayload",
      "decodePayload",
      "encodeErrorPayload",
      "decodeErrorPayload",
      "createDeviceSigner",
      "generateDeviceKey",
      "signedView",
      "signFrame",
      "verifyFrame",
      "ProtocolError",
      "ErrorCode",
      "Opcode",
      "Flag",
      "ALL_OPCODES",
      "isOpcode",
      "opcodeName",
      "deriveSenderId",
      "HUB_SENDER_ID",
      "systemClock",
      "systemRng",
      "systemTimers",
      "PAYLOAD_SCHEMAS",
      "cborEncode",
      "cborDecode",
      "schema",
    ];
    for (const n of names) expect(proto, n).toHaveProperty(n);
    expect(proto.HEADER_SIZE).toBe(128);
    expect(proto.MAGIC).toBe(0x53554e44);
    expect(proto.VERSION).toBe(1);
    expect(proto.DEFAULT_MAX_PAYLOAD).toBe(16 * 1024 * 1024);
  });

  it("keeps test switches and unchecked constructors out of the main entry", () => {
    expect(proto).not.toHaveProperty("setCanaries");
    expect(proto.FrameHeader).not.toHaveProperty("unchecked");
    expect(proto.Frame).not.toHaveProperty("unchecked");
    expect(proto).not.toHaveProperty("headerAt");
    expect(proto).not.toHaveProperty("frameAt");
  });

  it("runs the README example end to end", () => {
    const me = proto.generateDeviceKey(proto.systemRng);
    const ciphertext = proto.systemRng.bytes(24);
    const wire = proto.encodeFrame(
      {
        opcode: proto.Opcode.APP_MESSAGE,
        requestId: 1,
        roomId: 42n,
        senderId: me.senderId,
        epoch: 3n,
        payload: proto.encodePayload(proto.Opcode.APP_MESSAGE, { generation: 0, ciphertext }),
      },
      me.signer,
    );
    const frame = proto.Frame.fromWire(wire);
    expect(proto.verifyFrame(frame, me.publicKey)).toBe(true);
    expect(proto.decodePayload(proto.Opcode.APP_MESSAGE, frame.payload)).toEqual({
      generation: 0,
      ciphertext,
    });
    const dec = new proto.StreamDecoder({ maxPayload: 1 << 20 });
    expect(dec.push(wire).map((f) => f.header.requestId)).toEqual([1]);
  });
});
