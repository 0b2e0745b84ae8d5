/**
 * Five hubs in one process (twoHubs.ts), one member device of ROOM on each: alice@a creates
 * it on A and adds bob@b, carol@c, dave@d and erin@e (threeHubs.ts `memberRoom`). A majority
 * is three of five: two hubs can hold an entry no majority holds while two others elect a
 * third, the cases three hubs cannot show (Raft's Figure 8: figure8.test.ts).
 */
import { openEnvelope } from "@kalandra/proto";
import type { Client, Env } from "../hub/harness.js";
import { A, B, C, memberRoom } from "./threeHubs.js";
import type { federation, Message, Net } from "./twoHubs.js";

export const D = "d.example";
export const E = "e.example";

export interface FiveHubRoom {
  net: Net;
  hubs: Record<string, Env>;
  alice: Client;
  bob: Client;
  carol: Client;
  dave: Client;
  erin: Client;
}

export async function fiveHubRoom(
  opts: Parameters<typeof federation>[1] = {},
): Promise<FiveHubRoom> {
  const { net, hubs, members } = await memberRoom(
    [
      [A, "alice"],
      [B, "bob"],
      [C, "carol"],
      [D, "dave"],
      [E, "erin"],
    ],
    opts,
  );
  const [alice, bob, carol, dave, erin] = members as [Client, Client, Client, Client, Client];
  return { net, hubs, alice, bob, carol, dave, erin };
}

/** The opcode of the hub frame a message between hubs carries. */
export function opcodeOf(net: Net, m: Message): number {
  const key = net.signers.get(m.from)!.publicKey;
  return openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
}
