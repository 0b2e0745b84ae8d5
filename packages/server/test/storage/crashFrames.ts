/** The deterministic frames of the crash test: the parent recomputes what the child wrote. */
import { createHash } from "node:crypto";
import type { AppendEntry } from "../../src/storage/types.js";
import { header, utf8 } from "./helpers.js";

export function crashPayload(room: bigint, index: bigint): Uint8Array {
  const tag = `crash/${room}/${index}`;
  return utf8(`${tag}:${createHash("sha256").update(tag).digest("hex")}`);
}

export function crashFrame(room: bigint, index: bigint): AppendEntry {
  return {
    roomId: room,
    logIndex: index,
    header: header(room, index),
    payload: crashPayload(room, index),
    senderId: room,
    requestId: Number(index),
    response: utf8(`ack/${room}/${index}`),
    userId: `u${room}`,
  };
}
