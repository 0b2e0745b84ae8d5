/**
 * A configured peer that lies about a room's term (issue 18 (e)), for the real-hub world:
 * the last hub (never the room's first authority, hub a) presents a frame of the room as
 * sequenced by itself in the term above the one it knows, at its replica's next index,
 * position-signed with its own key, to every other hub. Hubs must ask it for the term's
 * certificate chain, get none and keep the room's authority (UNVERIFIED_TERM); a hub that
 * believed it (canary `replica_trusts_unverified_term`) follows a hub that does not
 * sequence and stores a frame the authority never ordered (fed_no_fork, fed_one_authority,
 * fed_convergence).
 */
import {
  concatBytes,
  FrameHeader,
  sealEnvelope,
  signPosition,
  stampSequence,
} from "@kalandra/proto";
import type { FedHubRun } from "./hubScenarios.js";

export function forgedTerm(r: FedHubRun, atMs: number): void {
  const forger = r.w.domains.at(-1)!;
  r.w.at(atMs, `${forger} forges a term`, () => {
    const hub = r.w.hub(forger);
    const fed = hub.node.core?.federation;
    const store = hub.node.lmdb;
    if (fed === undefined || store === undefined) return;
    const head = store.nextIndex(r.room);
    const [last] = head === 0n ? [] : store.readRange(r.room, head - 1n, 1);
    if (last === undefined || last.payload === null) return;
    const frame = concatBytes(last.header, last.payload);
    stampSequence(frame, head, FrameHeader.view(last.header).hlcTimestamp + 1n);
    const term = (fed.book.authorityOf(r.room)?.term ?? 0n) + 1n;
    const positionSig = signPosition(hub.node.signer, term, frame);
    for (const to of r.w.domains) {
      if (to === forger) continue;
      const wire = sealEnvelope(hub.node.signer, {
        origin: forger,
        forwardedAt: 0n,
        hops: 1,
        frame,
        term,
        positionSig,
        to: [],
      });
      hub.links.send(to, wire);
    }
    r.w.note("term_forged");
  });
}
