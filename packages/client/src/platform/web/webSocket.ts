/** The WebSocket class in browsers (the browser and default side of `#platform/webSocket`). */
import type { SocketClass } from "../../transport/platformTypes.js";

export function loadSocketClass(): Promise<SocketClass> {
  const global = (globalThis as { WebSocket?: SocketClass }).WebSocket;
  if (global === undefined) return Promise.reject(new TypeError("this runtime has no WebSocket"));
  return Promise.resolve(global);
}
