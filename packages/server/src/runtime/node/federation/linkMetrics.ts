/**
 * Prometheus metrics of the hub links (docs/federation.md "Metrics"). The `peer` label is
 * a domain from `[federation] peers`, a bounded set the operator chose; refusals of
 * connecting hubs that are not peers are labelled by code only, so a stranger cannot grow
 * the label set.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface LinkMetrics {
  linkUp: Gauge<"peer">;
  rtt: Gauge<"peer">;
  framesForwarded: Counter<"peer">;
  framesReceived: Counter<"peer">;
  framesRefused: Counter<"peer" | "code">;
  dials: Counter<"peer" | "result">;
  linksRefused: Counter<"code" | "side">;
  handshake: Histogram<"side">;
}

export function createLinkMetrics(registry: Registry): LinkMetrics {
  const registers = [registry];
  return {
    linkUp: new Gauge({
      name: "kalandra_federation_link_up",
      help: "1 while the link to the peer is up (both hub keys proved), else 0",
      labelNames: ["peer"],
      registers,
    }),
    rtt: new Gauge({
      name: "kalandra_federation_link_rtt_seconds",
      help: "Round-trip time of the last keepalive on the link to the peer (the link's lag)",
      labelNames: ["peer"],
      registers,
    }),
    framesForwarded: new Counter({
      name: "kalandra_federation_frames_forwarded_total",
      help: "Frames this hub sent to the peer over its link",
      labelNames: ["peer"],
      registers,
    }),
    framesReceived: new Counter({
      name: "kalandra_federation_frames_received_total",
      help: "Frames from the peer passed to the federation core",
      labelNames: ["peer"],
      registers,
    }),
    framesRefused: new Counter({
      name: "kalandra_federation_frames_refused_total",
      help: "Frames from the peer, or for it while its link is down, not passed on, by error code",
      labelNames: ["peer", "code"],
      registers,
    }),
    dials: new Counter({
      name: "kalandra_federation_dials_total",
      help: "Dial attempts to the peer, by result (up, refused, failed, timeout)",
      labelNames: ["peer", "result"],
      registers,
    }),
    linksRefused: new Counter({
      name: "kalandra_federation_links_refused_total",
      help: "Link handshakes refused, by error code and side (accepted: a hub dialed us; dialed: we dialed)",
      labelNames: ["code", "side"],
      registers,
    }),
    handshake: new Histogram({
      name: "kalandra_federation_handshake_seconds",
      help: "Time from a link's connection to its handshake's end",
      labelNames: ["side"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
  };
}
