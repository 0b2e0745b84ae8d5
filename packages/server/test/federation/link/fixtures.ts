/** Hubs with deterministic keys for the link tests, and a loop that runs two ends against each other. */
import { createDeviceSigner, type DeviceSigner, Frame } from "@kalandra/proto";
import { ManualTime, seededBytes, seededRng } from "@kalandra/test-support";
import type { PeerConfig, PeerPolicy } from "../../../src/federation/contract.js";
import type { LinkEndpoint, LinkEvent } from "../../../src/federation/link/index.js";
import { staticPeerPolicy } from "../../../src/federation/peerPolicy.js";
import { TokenBucket } from "../../../src/hub/tokenBucket.js";

export interface TestHub {
  domain: string;
  signer: DeviceSigner;
  entry: PeerConfig;
}

export function hub(domain: string): TestHub {
  const signer = createDeviceSigner(seededBytes(`hub-key ${domain}`, 32));
  return { domain, signer, entry: { domain, hubKey: signer.publicKey } };
}

export const A = hub("a.example");
export const B = hub("b.example");
export const C = hub("c.example");

/** The policy of hub `self` (the acceptor) listing `peers`. */
export function policyOf(
  self: TestHub,
  peers: TestHub[],
  o: { allow?: string[]; block?: string[] } = {},
): PeerPolicy {
  return staticPeerPolicy({ domain: self.domain, peers: peers.map((p) => p.entry), ...o });
}

export function buckets(time = new ManualTime(), rate = 10, burst = 10) {
  const map = new Map<string, TokenBucket>();
  return (domain: string): TokenBucket => {
    const b = map.get(domain) ?? new TokenBucket(rate, burst, time);
    map.set(domain, b);
    return b;
  };
}

export const rng = (seed: string) => seededRng(seed);

/** Delivers every "send" of one end to the other until nothing moves; returns all events by side. */
export function run(
  dialer: LinkEndpoint,
  acceptor: LinkEndpoint,
): { dialer: LinkEvent[]; acceptor: LinkEvent[] } {
  const seen = { dialer: [] as LinkEvent[], acceptor: [] as LinkEvent[] };
  let toAcceptor: Uint8Array[] = [];
  let toDialer: Uint8Array[] = [];
  const take = (side: "dialer" | "acceptor", evs: LinkEvent[]) => {
    seen[side].push(...evs);
    for (const e of evs)
      if (e.kind === "send") (side === "dialer" ? toAcceptor : toDialer).push(e.frame);
  };
  take("dialer", dialer.start());
  for (let i = 0; i < 20 && (toAcceptor.length > 0 || toDialer.length > 0); i++) {
    const [a, d] = [toAcceptor, toDialer];
    toAcceptor = [];
    toDialer = [];
    for (const f of a) take("acceptor", acceptor.receive(Frame.fromWire(f)));
    for (const f of d) take("dialer", dialer.receive(Frame.fromWire(f)));
  }
  return seen;
}
