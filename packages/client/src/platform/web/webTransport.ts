/**
 * WebTransport sessions in browsers (the browser and default side of
 * `#platform/webTransport`): the global `WebTransport` (HTTP/3 only). A runtime without
 * one cannot open a session; the client uses WebSocket there (transport/webSocket.ts).
 */
import type { Wt } from "../../transport/platformTypes.js";

type WtClass = new (url: string, opts: unknown) => Wt;

/**
 * A new session to `url` (not yet ready), pinned to `certHash` when given; `undefined`
 * when this runtime has no WebTransport.
 */
export async function openSession(
  url: string,
  certHash: Uint8Array | undefined,
): Promise<Wt | undefined> {
  const WebTransport = (globalThis as { WebTransport?: WtClass }).WebTransport;
  if (WebTransport === undefined) return undefined;
  const opts: Record<string, unknown> = {};
  if (certHash) opts.serverCertificateHashes = [{ algorithm: "sha-256", value: certHash.slice() }];
  const wt = new WebTransport(url, opts);
  wt.closed.catch(() => undefined);
  return wt;
}
