/**
 * Holds a connection's writes until the current synchronous run ends (issue 15): the
 * frames one fan-out burst sends to a session (a shard's batch holds many; a front's IPC
 * batch too) then leave in one `writev` instead of one system call per frame. ws corks
 * around each frame itself; corks nest, so its frames wait for ours.
 */
import type { WebSocket } from "ws";

export function corker(ws: WebSocket): () => void {
  const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
  let corked = false;
  return () => {
    if (corked || socket === undefined) return;
    corked = true;
    socket.cork();
    queueMicrotask(() => {
      corked = false;
      socket.uncork();
    });
  };
}
