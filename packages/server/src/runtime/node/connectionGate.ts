/**
 * What every listener (WebTransport, WebSocket) does alike when a connection arrives:
 * whether it may open one more session (asking the one HubHost, whose `size` counts the
 * sessions of all listeners: one `max_connections` budget, not one per transport), and
 * the `Session` it opens.
 */
import { type Clock, errorFrame, type Rng, type Timers } from "@kalandra/proto";
import type { Logger } from "pino";
import type { HubHost } from "../../hub/hubHost.js";
import { verifyFrameAsync } from "./asyncVerify.js";
import type { LinkAcceptor } from "./federation/linkIo.js";
import type { Metrics } from "./metrics.js";
import { Session, type SessionIo } from "./session.js";
import type { RuntimeLimits } from "./transport.js";
import type { HubKey } from "./wire.js";

/** What every listener is given besides its address and certificate (`TransportOptions` extends it). */
export interface ListenerDeps {
  hubKey: HubKey;
  /** Sessions, devices and routing (the host routes the core's frames to `Session.deliver`). */
  hub: HubHost;
  limits: RuntimeLimits;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  metrics?: Metrics;
  log?: Logger;
  /** Peer hubs' links (federation enabled): a connection opening with FED_HELLO becomes one. */
  links?: LinkAcceptor;
}

/**
 * undefined = admit; otherwise the ERROR frame to send before closing the connection:
 * shutting down, `max_connections` reached, or `max_connections_per_ip` reached for `peer`.
 */
export function refuseConnection(
  o: ListenerDeps,
  accepting: boolean,
  peer?: string,
): Uint8Array | undefined {
  const max = o.limits.maxConnections;
  const perPeer = peer === undefined ? undefined : o.hub.refusePeer(peer);
  const [reason, message] = !accepting
    ? (["INTERNAL", "hub is shutting down"] as const)
    : o.hub.size >= max
      ? (["TOO_MANY_CONNECTIONS", `hub holds its maximum of ${max} sessions`] as const)
      : perPeer !== undefined
        ? (["TOO_MANY_CONNECTIONS", perPeer] as const)
        : [undefined, ""];
  if (reason === undefined) return undefined;
  o.metrics?.connectionsRefused.inc({ reason });
  o.metrics?.framesRejected.inc({ code: reason });
  return errorFrame({ requestId: 0, roomId: 0n }, { code: reason, message });
}

/**
 * A new session `id` over `io` from source address `peer`, registered with the host and
 * counted in the metrics. Its frames' signatures are verified on libuv's thread pool
 * (issue 15: ~120 µs of CPU per frame that no longer holds up the thread reading every
 * socket and writing every fan-out; the session still hands frames on in arrival order).
 */
export function openSession(o: ListenerDeps, id: string, io: SessionIo, peer?: string): Session {
  const session = new Session({
    id,
    io,
    hubKey: o.hubKey,
    hub: o.hub,
    limits: o.limits,
    clock: o.clock,
    rng: o.rng,
    timers: o.timers,
    metrics: o.metrics,
    log: o.log,
    verifyAsync: verifyFrameAsync,
    ...(o.links === undefined ? {} : { links: o.links }),
  });
  o.hub.connect(id, session, peer);
  o.metrics?.connectionsTotal.inc();
  o.metrics?.connectionsActive.set(o.hub.size);
  return session;
}

/** Unregisters a closed session from the host. */
export function closeSession(o: ListenerDeps, id: string, reason: string): void {
  o.hub.disconnect(id);
  o.metrics?.connectionsActive.set(o.hub.size);
  o.log?.debug({ session: id, reason }, "session closed");
}

/**
 * The source address a per-address cap counts: `address` as the socket reports it, or the
 * address part of WebTransport's "address:port"; IPv4-mapped IPv6 as plain IPv4, so both
 * listeners count one client alike. undefined when the transport does not say.
 */
export function peerHost(address: string | undefined, withPort = false): string | undefined {
  if (address === undefined || address === "" || address.startsWith("undefined")) return undefined;
  let host = address;
  if (withPort) {
    const colon = address.lastIndexOf(":");
    if (colon <= 0) return undefined;
    host = address.slice(0, colon);
  }
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return host.startsWith("::ffff:") && host.includes(".") ? host.slice(7) : host;
}
