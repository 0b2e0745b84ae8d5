/**
 * The interop cases (issue 13): every one runs once with each implementation creating the
 * group. A room created on our side is always a real Kalandra room (createRoomGroup: the
 * hub listed as external sender); one created on OpenMLS names the hub only where the case
 * is about the hub. Each case checks epoch, membership and exporter agreement at every
 * epoch (Room.check).
 */
import { createDeviceSigner, type DeviceSigner, systemRng } from "@kalandra/proto";
import { buildExternalRemove } from "@kalandra/server";
import { ratchetTreeFromExtension } from "ts-mls/groupInfo.js";
import { decodeGroupInfo } from "../../packages/client/src/mls/group.js";
import type { CoreCryptoModule } from "./coreCrypto.js";
import { wireIdentity } from "./identity.js";
import { KalandraMember } from "./kalandra.js";
import type { Implementation, InteropMember } from "./member.js";
import { OpenMlsMember } from "./openmls.js";
import { expect, Room, step } from "./room.js";

export interface CaseContext {
  cc: CoreCryptoModule;
}

export interface CaseResult {
  epochs: number;
  detail: string;
}

export interface InteropCase {
  name: string;
  creator: Implementation;
  run(ctx: CaseContext): Promise<CaseResult>;
}

/** Makes members of either implementation with identities unique within the run. */
class Cast {
  private static next = 1;
  constructor(private readonly cc: CoreCryptoModule) {}

  make(impl: Implementation): Promise<InteropMember> {
    const identity = wireIdentity(Cast.next++);
    return impl === "kalandra"
      ? Promise.resolve(new KalandraMember(identity))
      : OpenMlsMember.create(this.cc, identity);
  }

  async many(impls: Implementation[]): Promise<InteropMember[]> {
    const out: InteropMember[] = [];
    for (const i of impls) out.push(await this.make(i));
    return out;
  }
}

const other = (impl: Implementation): Implementation =>
  impl === "kalandra" ? "openmls" : "kalandra";

function freshGroupId(): Uint8Array {
  return systemRng.bytes(16);
}

interface Hub {
  signer: DeviceSigner;
}

function makeHub(): Hub {
  return { signer: createDeviceSigner(systemRng.bytes(32)) };
}

/**
 * A room made by `creator` (of `impl`) with members `others` added in one commit. Our rooms
 * always name a hub; OpenMLS rooms only when `hub` is given.
 */
async function roomWith(
  impl: Implementation,
  cast: Cast,
  others: Implementation[],
  hub?: Hub,
): Promise<{ room: Room; creator: InteropMember; members: InteropMember[] }> {
  const creator = await cast.make(impl);
  const hubKey = hub ?? (impl === "kalandra" ? makeHub() : undefined);
  const room = await step(`${impl} creates the group`, () =>
    Room.create(creator, freshGroupId(), hubKey?.signer.publicKey),
  );
  const members = await cast.many(others);
  await room.add(creator, members);
  return { room, creator, members };
}

function welcomeJoin(creator: Implementation): InteropCase {
  return {
    name: "create + Welcome join",
    creator,
    async run({ cc }) {
      const cast = new Cast(cc);
      const { room, members } = await roomWith(creator, cast, [other(creator)]);
      const joined = members[0] as InteropMember;
      // The joiner adds one of each in turn: Welcomes made by both sides into this room.
      await room.add(joined, await cast.many(["kalandra", "openmls"]));
      return { epochs: room.epochsChecked, detail: `${room.members.length} members` };
    },
  };
}

function applicationMessages(creator: Implementation): InteropCase {
  return {
    name: "application messages both ways",
    creator,
    async run({ cc }) {
      const cast = new Cast(cc);
      const others: Implementation[] = ["kalandra", "openmls", other(creator)];
      const { room } = await roomWith(creator, cast, others);
      let read = await room.messageAll();
      await room.update(room.members[2] as InteropMember);
      read += await room.messageAll();
      return { epochs: room.epochsChecked, detail: `${read} messages read` };
    },
  };
}

function updateRemove(creator: Implementation): InteropCase {
  return {
    name: "update and remove from each side",
    creator,
    async run({ cc }) {
      const cast = new Cast(cc);
      const {
        room,
        creator: c,
        members,
      } = await roomWith(creator, cast, ["kalandra", "openmls", "kalandra", "openmls"]);
      const [k1, o1, k2, o2] = members as [
        InteropMember,
        InteropMember,
        InteropMember,
        InteropMember,
      ];
      await room.update(k1);
      await room.update(o1);
      await room.update(c);
      await room.remove(k1, [o2]); // ours removes theirs
      await room.remove(o1, [k2]); // theirs removes ours
      await room.remove(k1, [o1]);
      await room.update(c);
      return { epochs: room.epochsChecked, detail: `${room.members.length} members left` };
    },
  };
}

function externalJoin(creator: Implementation): InteropCase {
  return {
    name: "external join both ways",
    creator,
    async run({ cc }) {
      const cast = new Cast(cc);
      const { room } = await roomWith(creator, cast, [other(creator)]);
      // Each joiner builds on the GroupInfo of the previous commit, so both sides read a
      // GroupInfo written by the other: openmls <- ours, ours <- openmls.
      for (const impl of ["openmls", "kalandra", "openmls", "kalandra"] as const) {
        await room.joinExternal(await cast.make(impl));
      }
      await room.messageAll();
      return { epochs: room.epochsChecked, detail: `${room.members.length} members` };
    },
  };
}

/** The leaf the hub names for `identity`, from the tree in the room's latest GroupInfo. */
function hubLeafOf(room: Room, identity: string): number {
  expect(room.groupInfo !== undefined, "no GroupInfo at the hub");
  const gi = decodeGroupInfo(room.groupInfo);
  const tree = ratchetTreeFromExtension(gi) ?? [];
  const enc = new TextEncoder().encode(identity).join(",");
  const i = tree.findIndex(
    (n) =>
      n?.nodeType === "leaf" &&
      n.leaf.credential.credentialType === "basic" &&
      n.leaf.credential.identity.join(",") === enc,
  );
  expect(i >= 0, `${identity} not in the GroupInfo's tree`);
  return i / 2;
}

/** The kick path (DESIGN §6): the hub's external Remove, processed by all, committed by one. */
function hubKick(creator: Implementation): InteropCase {
  return {
    name: "hub as external sender: kick",
    creator,
    async run({ cc }) {
      const cast = new Cast(cc);
      const hub = makeHub();
      const { room, members } = await roomWith(
        creator,
        cast,
        ["kalandra", "openmls", "kalandra", "openmls"],
        hub,
      );
      const [k1, o1, k2, o2] = members as [
        InteropMember,
        InteropMember,
        InteropMember,
        InteropMember,
      ];
      const kicks: [InteropMember, InteropMember][] = [
        [o2, k1], // the hub kicks an OpenMLS member, ours commits
        [k2, o1], // the hub kicks one of ours, OpenMLS commits
      ];
      for (const [victim, committer] of kicks) {
        const leaf = hubLeafOf(room, victim.identity);
        const proposal = await step("the hub builds its external Remove", () =>
          buildExternalRemove(room.groupInfo as Uint8Array, leaf, hub.signer),
        );
        await room.deliverProposal(proposal);
        await room.commitPending(committer, [victim]);
      }
      await room.messageAll();
      return { epochs: room.epochsChecked, detail: "2 kicks committed" };
    },
  };
}

const BIG_ROOM = 61;
const BATCH = 8;

/**
 * 61 members added in batches by alternating sides with an update between batches (the
 * shape that leaves partial unmerged_leaves lists, issue 13 defect 1), then ten removed
 * and ten refilled, then one of each implementation joins by Welcome and by external
 * commit. Every member processes every commit.
 */
function bigTree(creator: Implementation): InteropCase {
  return {
    name: `${BIG_ROOM} members, remove 10, refill, joins`,
    creator,
    async run({ cc }) {
      const cast = new Cast(cc);
      const { room } = await roomWith(creator, cast, [other(creator)]);
      let batch = 0;
      while (room.members.length < BIG_ROOM) {
        const size = Math.min(BATCH, BIG_ROOM - room.members.length);
        // Every fourth joiner on OpenMLS; committers alternate between the two sides.
        const impls = Array.from(
          { length: size },
          (_, i): Implementation => ((room.members.length + i) % 4 === 3 ? "openmls" : "kalandra"),
        );
        const committer = pick(room, batch % 2 === 0 ? "kalandra" : "openmls", batch);
        await room.add(committer, await cast.many(impls));
        // An update from a member in the middle of the tree, then one near its end.
        await room.update(room.members[(5 * batch + 3) % room.members.length] as InteropMember);
        await room.update(room.members[room.members.length - 2] as InteropMember);
        batch++;
      }
      const removed = room.members.filter((_, i) => i % 6 === 4).slice(0, 10);
      await room.remove(pick(room, "openmls", 1, removed), removed);
      const refill = await cast.many(
        Array.from(
          { length: 10 },
          (_, i): Implementation => (i % 3 === 0 ? "openmls" : "kalandra"),
        ),
      );
      await room.add(pick(room, "kalandra", 2, removed), refill);
      await room.update(room.members[7] as InteropMember);
      await room.add(pick(room, "openmls", 3), [await cast.make("kalandra")]);
      await room.add(pick(room, "kalandra", 4), [await cast.make("openmls")]);
      await room.joinExternal(await cast.make("kalandra"));
      await room.joinExternal(await cast.make("openmls"));
      return { epochs: room.epochsChecked, detail: `${room.members.length} members at the end` };
    },
  };
}

/** The `n`-th member of `impl` (wrapping), skipping `excluded`. */
function pick(room: Room, impl: Implementation, n: number, excluded: InteropMember[] = []) {
  const of = room.members.filter((m) => m.impl === impl && !excluded.includes(m));
  const m = of[n % of.length];
  expect(m !== undefined, `no ${impl} member to commit`);
  return m;
}

export const CASES: InteropCase[] = (["kalandra", "openmls"] as const).flatMap((c) => [
  welcomeJoin(c),
  applicationMessages(c),
  updateRemove(c),
  externalJoin(c),
  hubKick(c),
  bigTree(c),
]);
