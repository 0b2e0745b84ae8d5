/**
 * The WebSocket class in Node (the Node side of `#platform/webSocket`): the global one
 * where there is one (Node 22+), else the `ws` package (Node 20 has no global WebSocket
 * without a flag), loaded by a dynamic import only then.
 */
import type { SocketClass } from "../../transport/platformTypes.js";

let socketClass: Promise<SocketClass> | undefined;

export function loadSocketClass(): Promise<SocketClass> {
  const global = (globalThis as { WebSocket?: SocketClass }).WebSocket;
  if (global !== undefined) return Promise.resolve(global);
  socketClass ??= import("ws").then((m) => m.WebSocket as unknown as SocketClass);
  return socketClass;
}
