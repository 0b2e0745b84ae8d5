/**
 * The state of this hub's links to its federation peers, as readiness sees it. Federation
 * (issue 18) does not exist yet: when it does, its link manager reports each peer's link
 * here (`report`) as it comes up or goes down, and `/readyz` fails while a peer listed in
 * `monitoring.required_peers` is not up. Until then nothing reports, so a required peer is
 * never up: requiring one makes the hub not ready, which is the truth.
 */

export type PeerLinkState = "up" | "down";

/** Where the readiness check reads link states from (federation feeds it; tests fake it). */
export interface PeerLinkSource {
  /** The link's last reported state; undefined when nothing ever reported the peer. */
  state(peer: string): PeerLinkState | undefined;
}

/** The in-process board federation writes to and readiness reads from. */
export class PeerLinks implements PeerLinkSource {
  private readonly states = new Map<string, PeerLinkState>();

  report(peer: string, state: PeerLinkState): void {
    this.states.set(peer, state);
  }

  state(peer: string): PeerLinkState | undefined {
    return this.states.get(peer);
  }
}
