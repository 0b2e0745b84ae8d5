/**
 * Whether a listener may open one more session. Every listener (WebTransport, WebSocket)
 * asks the same HubHost, whose `size` counts the sessions of all of them: one
 * `max_connections` budget, not one per transport.
 */
import { errorFrame } from "@kalandra/proto";
import type { HubHost } from "../../hub/hubHost.js";
import type { Metrics } from "./metrics.js";
import { type HubKey, hubKeySigner } from "./wire.js";

export interface GateInput {
  accepting: boolean;
  hub: HubHost;
  maxConnections: number;
  hubKey: HubKey;
  metrics?: Metrics;
}

/** undefined = admit; otherwise the ERROR frame to send before closing the connection. */
export function refuseConnection(g: GateInput): Uint8Array | undefined {
  const [reason, message] = !g.accepting
    ? (["INTERNAL", "hub is shutting down"] as const)
    : g.hub.size >= g.maxConnections
      ? (["TOO_MANY_CONNECTIONS", `hub holds its maximum of ${g.maxConnections} sessions`] as const)
      : [undefined, ""];
  if (reason === undefined) return undefined;
  g.metrics?.connectionsRefused.inc({ reason });
  g.metrics?.framesRejected.inc({ code: reason });
  return errorFrame(
    hubKeySigner(g.hubKey),
    { requestId: 0, roomId: 0n },
    { code: reason, message },
  );
}
