/**
 * WebTransport sessions in Node (the Node side of `#platform/webTransport`): Node has no
 * global WebTransport, so the @fails-components/webtransport library is loaded once on
 * first use (browsers never reach this module): HTTP/3 when its QUIC binding loads, HTTP/2
 * otherwise. HTTP/2 mode needs raised flow-control windows on both sides (PROBES.md): the
 * same values as kalandrad's listener.
 */
import type { Wt } from "../../transport/platformTypes.js";

const WINDOW = 64 * 1024 * 1024;
const STREAMS = 1_000_000;
/** Flow-control options for HTTP/2 WebTransport (PROBES.md: the defaults stall after 16 KiB). */
export const CLIENT_FLOW_OPTIONS = {
  initialStreamFlowControlWindow: WINDOW,
  initialSessionFlowControlWindow: WINDOW,
  streamFlowControlWindowSizeLimit: WINDOW,
  sessionFlowControlWindowSizeLimit: WINDOW,
  initialBidirectionalSendStreams: STREAMS,
  initialBidirectionalReceiveStreams: STREAMS,
  initialUnidirectionalSendStreams: STREAMS,
  initialUnidirectionalReceiveStreams: STREAMS,
} as const;

let libPromise:
  | Promise<{ WebTransport: new (url: string, opts: unknown) => Wt; http3: boolean }>
  | undefined;
function loadLib() {
  libPromise ??= (async () => {
    const lib = (await import("@fails-components/webtransport")) as unknown as {
      WebTransport: new (url: string, opts: unknown) => Wt;
      quicheLoaded: Promise<unknown>;
    };
    let http3 = false;
    try {
      await lib.quicheLoaded;
      const name = "@fails-components/webtransport-transport-http3-quiche";
      await import(name);
      http3 = true;
    } catch {
      http3 = false;
    }
    return { WebTransport: lib.WebTransport, http3 };
  })();
  return libPromise;
}

/** A new session to `url` (not yet ready), pinned to `certHash` when given. */
export async function openSession(
  url: string,
  certHash: Uint8Array | undefined,
): Promise<Wt | undefined> {
  const { WebTransport, http3 } = await loadLib();
  const opts: Record<string, unknown> = { ...CLIENT_FLOW_OPTIONS, forceReliable: !http3 };
  if (certHash) opts.serverCertificateHashes = [{ algorithm: "sha-256", value: certHash.slice() }];
  const wt = new WebTransport(url, opts);
  wt.closed.catch(() => undefined);
  return wt;
}
