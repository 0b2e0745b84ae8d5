/**
 * The other hubs of a room (DESIGN §11): a sequenced frame goes once to each hub with a
 * member device in the room, or whose device sent it, with that hub's member devices and
 * those the frame is fanned out to. Devices are placed by their user's domain (MLS
 * credentials name `user@domain`, DESIGN §10); bare names and this hub's domain are local.
 */
import { domainOf } from "../identity/userId.js";
import type { ReplicaPeer } from "../vocabulary/target.js";

export function replicaPeers(
  self: string,
  members: readonly bigint[],
  fanout: readonly bigint[],
  sender: bigint,
  userOf: ReadonlyMap<bigint, string>,
): ReplicaPeer[] {
  const local = self.toLowerCase();
  const by = new Map<string, { domain: string; members: bigint[]; fanout: bigint[] }>();
  const peerOf = (senderId: bigint) => {
    const user = userOf.get(senderId);
    const domain = user === undefined ? undefined : domainOf(user);
    if (domain === undefined || domain === local) return undefined;
    let p = by.get(domain);
    if (p === undefined) {
      p = { domain, members: [], fanout: [] };
      by.set(domain, p);
    }
    return p;
  };
  for (const m of members) peerOf(m)?.members.push(m);
  for (const f of fanout) peerOf(f)?.fanout.push(f);
  // The sender's hub keeps the frame in its replica even with nobody there to fan out to.
  if (sender !== 0n) peerOf(sender);
  return [...by.values()];
}
