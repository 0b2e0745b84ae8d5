/**
 * The lean frame load of `pnpm bench scale` (loadgen/frameLoad.ts): its frames are valid,
 * signed requests the hub would sequence, each message has its own request id, and the
 * filter that takes a run's copies off the client cores takes nothing else — not the
 * cores' own requests, not their handshake (whose ids sit at the top of the u32 range).
 */
import {
  encodeFrame,
  encodePayload,
  Flag,
  Frame,
  generateDeviceKey,
  Opcode,
  systemRng,
  verifyFrame,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { type LeanRoom, leanIndex, prepareFrames, REQUEST_ID_BASE } from "../loadgen/frameLoad.js";

const key = () => generateDeviceKey(systemRng);

function room(roomId: bigint, members: number): LeanRoom {
  return {
    roomId,
    epoch: 3n,
    members: Array.from({ length: members }, () => {
      const k = key();
      return {
        senderId: k.senderId,
        signer: k.signer,
        link: { send: () => undefined, onFrame: () => undefined, close: () => undefined },
      };
    }),
  };
}

const frame = (opcode: Opcode, requestId: number, flags = 0) =>
  encodeFrame({
    opcode,
    flags,
    requestId,
    roomId: 1n,
    senderId: 5n,
    epoch: 0n,
    payload: encodePayload(Opcode.PING, { nonce: 1 }),
  });

describe("frame load", () => {
  it("prepares signed APP_MESSAGEs round robin over every member, one request id per message", () => {
    const rooms = [room(7n, 2), room(9n, 3)];
    const { frames, senders } = prepareFrames(rooms, 40, 12, 300);
    expect(frames).toHaveLength(12);
    frames.forEach((bytes, i) => {
      const f = Frame.fromWire(bytes);
      const sender = senders[i];
      expect(f.header.opcode).toBe(Opcode.APP_MESSAGE);
      expect(f.header.requestId).toBe(REQUEST_ID_BASE + 40 + i);
      expect(f.header.epoch).toBe(3n);
      expect(f.header.senderId).toBe(sender?.senderId);
      expect(verifyFrame(f, sender?.signer?.publicKey as Uint8Array)).toBe(true);
      expect(leanIndex(bytes)).toBe(40 + i);
    });
    // Five members in all: message n is sent by member n mod 5, in the room it belongs to.
    expect(Frame.fromWire(frames[0] as Uint8Array).header.roomId).toBe(7n);
    expect(senders[0]).toBe(rooms[0]?.members[0]);
    expect(Frame.fromWire(frames[2] as Uint8Array).header.roomId).toBe(9n);
    expect(senders[2]).toBe(rooms[1]?.members[0]);
    expect(senders[5]).toBe(senders[0]);
  });

  it("recognises a run's fanned-out frames and ACKs, nothing else", () => {
    expect(leanIndex(frame(Opcode.APP_MESSAGE, REQUEST_ID_BASE + 3))).toBe(3);
    expect(leanIndex(frame(Opcode.ACK, REQUEST_ID_BASE + 9, Flag.RESPONSE))).toBe(9);
    // The client core's own requests and its handshake range stay with the core.
    expect(leanIndex(frame(Opcode.APP_MESSAGE, 17))).toBe(-1);
    expect(leanIndex(frame(Opcode.ACK, 0xfff0_0001, Flag.RESPONSE))).toBe(-1);
    expect(leanIndex(frame(Opcode.ERROR, REQUEST_ID_BASE + 3, Flag.RESPONSE))).toBe(-1);
    expect(leanIndex(new Uint8Array(20))).toBe(-1);
  });
});
