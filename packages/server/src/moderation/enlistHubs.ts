/**
 * Kicks across hubs (DESIGN §6, §11; docs/federation.md "Kicks across hubs"): a kick is the
 * hub's MLS Remove proposal as a listed external sender, and a room's GroupContext at first
 * lists only the hub that created it. So the room's authority enlists every other hub with
 * members in the room (its voters: any of them may sequence the room after a transfer or a
 * failover) by a GroupContextExtensions proposal appending their pinned hub keys to
 * external_senders (mls/hubSenders.ts), which a member commits like a kick's removal.
 */
import type { DeviceSigner } from "@kalandra/proto";
import { withHubSenders } from "../mls/hubSenders.js";
import type { Outcome } from "../vocabulary/outcome.js";
import { buildExternalProposal, decodeRoomGroupInfo, RemovalError } from "./removal.js";

/** What enlisting needs of one room's sequencer (RoomSequencer satisfies it). */
export interface EnlistingRoom {
  readonly groupInfo: Uint8Array;
  readonly pending: readonly { kind: string }[];
  proposeExtensions(proposal: Uint8Array): Promise<Outcome>;
}

/** "listed": every key is an external sender already; "pending": an enlisting awaits its commit. */
export type Enlisting = Outcome | "listed" | "pending";

/**
 * Proposes appending the `keys` not listed yet to the room's external senders. "pending"
 * while such a proposal awaits its commit (the next call after it proposes whatever is
 * still missing). A refusal when this hub is not an external sender itself (it cannot
 * sign for the room) or the room refuses.
 */
export async function enlistHubs(
  room: EnlistingRoom,
  keys: readonly Uint8Array[],
  signer: DeviceSigner,
): Promise<Enlisting> {
  let extensions: ReturnType<typeof withHubSenders>;
  try {
    extensions = withHubSenders(decodeRoomGroupInfo(room.groupInfo).groupContext.extensions, keys);
  } catch (e) {
    return { ok: false, refusal: refusalOf(e) };
  }
  if (extensions === undefined) return "listed";
  if (room.pending.some((p) => p.kind === "extensions")) return "pending";
  let proposal: Uint8Array;
  try {
    proposal = await buildExternalProposal(
      room.groupInfo,
      { proposalType: "group_context_extensions", groupContextExtensions: { extensions } },
      signer,
    );
  } catch (e) {
    return { ok: false, refusal: refusalOf(e) };
  }
  return room.proposeExtensions(proposal);
}

function refusalOf(e: unknown): { code: "FORBIDDEN"; message: string } {
  const why = e instanceof RemovalError ? e.code : "INVALID_GROUP_INFO";
  return {
    code: "FORBIDDEN",
    message: `cannot enlist hubs (${why}): ${String((e as Error)?.message ?? e)}`,
  };
}
