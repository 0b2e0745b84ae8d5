/** A room with real MLS members, built through the hub core as clients would. */

import { Opcode } from "@kalandra/proto";
import { encodeMlsMessage } from "ts-mls";
import type { HubLimits } from "../../src/hub/hubCore.js";
import { type Client, type Env, frameOf, makeClient, makeEnv, send } from "../hub/harness.js";
import { commit, createRoom, groupInfoBytes, join, memberProposal } from "../mls/mlsClients.js";

export const ROOM = 0x1234_5678_9abc_def0_1122_3344_5566_7788n;

export interface Room {
  env: Env;
  members: Client[];
  roomId: bigint;
}

/**
 * Creates `ROOM` with `names[0]` and adds the others in one commit (epoch 1). The room is
 * open to every user unless `joinRule` says otherwise: the sequencing tests that use it let
 * outsiders join by external commit; the access tests (access.test.ts) ask for "invite".
 */
export async function roomWith(
  names: string[],
  opts: {
    limits?: Partial<HubLimits>;
    env?: Env;
    roomId?: bigint;
    members?: Client[];
    joinRule?: "invite" | "open";
  } = {},
): Promise<Room> {
  const env = opts.env ?? (await makeEnv({ limits: opts.limits ?? {} }));
  const roomId = opts.roomId ?? ROOM;
  const members = opts.members ?? (await Promise.all(names.map((n) => makeClient(env, n))));
  const creator = members[0]!;
  creator.state = await createRoom(env.cs, env.hubMls, creator.device, roomId);
  const created = await send(
    env,
    creator,
    frameOf(creator, Opcode.ROOM_CREATE, roomId, 0n, {
      group_info: await groupInfoBytes(env.cs, creator.state),
      join_rule: opts.joinRule ?? "open",
    }),
  );
  if (created.opcode !== Opcode.ACK) throw new Error(`create failed: ${created.error?.name}`);
  if (members.length > 1) {
    const c = await commit(
      env.cs,
      creator.state,
      members.slice(1).map((m) => ({
        proposalType: "add" as const,
        add: { keyPackage: m.device.publicPackage },
      })),
    );
    const a = await send(
      env,
      creator,
      frameOf(creator, Opcode.COMMIT, roomId, 0n, {
        commit: c.commit,
        group_info: c.groupInfo,
        welcome: encodeMlsMessage(c.welcome!),
        welcome_recipients: members.slice(1).map((m) => m.senderId),
      }),
    );
    if (a.opcode !== Opcode.ACK) throw new Error(`add failed: ${a.error?.name}`);
    creator.state = c.state;
    for (const m of members.slice(1)) m.state = await join(env.cs, m.device, c.welcome!);
  }
  return { env, members, roomId };
}

export const appMessage = (
  c: Client,
  roomId: bigint,
  epoch: bigint,
  text = "hi",
  requestId?: number,
) =>
  frameOf(
    c,
    Opcode.APP_MESSAGE,
    roomId,
    epoch,
    { generation: 0, ciphertext: new TextEncoder().encode(text) },
    requestId,
  );

/**
 * Bob (the second member), made a room admin by Alice (removing another user is for room
 * admins), proposes removing Carol (leaf 2) at epoch 1: the pending proposal the
 * commit-coverage, COMMIT_REQUEST and restart tests start from.
 */
export async function proposeCarolsRemoval({ env, members, roomId }: Room, requestId?: number) {
  const [alice, bob] = [members[0]!, members[1]!];
  const promoted = await send(
    env,
    alice,
    frameOf(alice, Opcode.ROOM_POLICY, roomId, 1n, {
      action: "set_role",
      user_id: bob.name,
      role: "admin",
    }),
  );
  if (promoted.opcode !== Opcode.ACK) throw new Error(`set_role failed: ${promoted.error?.name}`);
  const proposal = await memberProposal(env.cs, bob.state!, {
    proposalType: "remove",
    remove: { removed: 2 },
  });
  const answer = await send(
    env,
    bob,
    frameOf(bob, Opcode.PROPOSAL, roomId, 1n, { message: proposal.bytes }, requestId),
  );
  return { proposal, answer };
}
