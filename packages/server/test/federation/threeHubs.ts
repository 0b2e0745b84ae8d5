/**
 * Three hubs in one process (twoHubs.ts) sharing one room: alice@a creates it on A and adds
 * bob@b and carol@c, whose key packages A claims through their hubs. For the tests of
 * moving the room's authority (transfer.test.ts, failover.test.ts).
 */
import { decodePayload, type Frame, Opcode, openEnvelope, type PayloadOf } from "@kalandra/proto";
import { decodeMlsMessage, encodeMlsMessage } from "ts-mls";
import { expect } from "vitest";
import type { LocalHub } from "../../src/federation/coreDeps.js";
import { loadModerationState, Moderation } from "../../src/moderation/service.js";
import { type Client, deliveredTo, type Env, frameOf, makeClient } from "../hub/harness.js";
import { commit, createRoom, groupInfoBytes, join, process } from "../mls/mlsClients.js";
import { federation, type Net, sendVia } from "./twoHubs.js";

export const A = "a.example";
export const B = "b.example";
export const C = "c.example";
export const ROOM = 0x0a0b_0c0d_0e0f_1011_1213_1415_1617_1820n;

export interface Room {
  net: Net;
  hubs: Record<string, Env>;
  alice: Client;
  bob: Client;
  carol: Client;
}

export async function uploadKeyPackage(net: Net, env: Env, c: Client): Promise<Uint8Array> {
  const kp = encodeMlsMessage({
    version: "mls10",
    wireformat: "mls_key_package",
    keyPackage: c.device.publicPackage,
  });
  const up = await sendVia(
    net,
    env,
    c,
    frameOf(c, Opcode.KP_UPLOAD, 0n, 0n, { key_packages: [kp], last_resort: false }),
  );
  expect(up.opcode).toBe(Opcode.ACK);
  return kp;
}

/**
 * alice@a creates ROOM on A and adds bob@b and carol@c (claimed through their hubs).
 * `others`: more hubs in the federation, with no member in the room (yet).
 */
export async function threeHubRoom(
  opts: Parameters<typeof federation>[1] = {},
  others: string[] = [],
): Promise<Room> {
  const { net, hubs, members } = await memberRoom(
    [
      [A, "alice"],
      [B, "bob"],
      [C, "carol"],
    ],
    opts,
    others,
  );
  const [alice, bob, carol] = members as [Client, Client, Client];
  return { net, hubs, alice, bob, carol };
}

/**
 * One member device per hub of `homes` ([domain, user]): the first creates ROOM on its hub
 * and adds the others in one commit (their key packages claimed through their hubs), and
 * every member applies the authority's proposal enlisting the new voters. `others`: more
 * hubs in the federation, with no member in the room (yet).
 */
export async function memberRoom(
  homes: readonly (readonly [domain: string, user: string])[],
  opts: Parameters<typeof federation>[1] = {},
  others: string[] = [],
): Promise<{ net: Net; hubs: Record<string, Env>; members: Client[] }> {
  const net = await federation([...homes.map(([d]) => d), ...others], opts);
  const envs = homes.map(([d]) => net.hub(d));
  const members: Client[] = [];
  for (const [i, [d, user]] of homes.entries())
    members.push(await makeClient(envs[i]!, `${user}@${d}`));
  for (let i = 1; i < homes.length; i++) await uploadKeyPackage(net, envs[i]!, members[i]!);
  const [a, creator] = [envs[0]!, members[0]!];
  creator.state = await createRoom(a.cs, a.hubMls, creator.device, ROOM);
  const created = await sendVia(
    net,
    a,
    creator,
    frameOf(creator, Opcode.ROOM_CREATE, ROOM, 0n, {
      group_info: await groupInfoBytes(a.cs, creator.state),
      join_rule: "invite",
    }),
  );
  expect(created.opcode).toBe(Opcode.ACK);
  for (const newcomer of members.slice(1)) {
    const claimed = await sendVia(
      net,
      a,
      creator,
      frameOf(creator, Opcode.KP_CLAIM, 0n, 0n, { user_id: newcomer.name }),
    );
    expect(claimed.opcode).toBe(Opcode.KP_CLAIMED);
  }
  const welcome = await addMembers(net, a, creator, 0n, members.slice(1));
  for (const [i, m] of members.entries()) {
    if (i > 0) m.state = await join(envs[i]!.cs, m.device, welcome);
  }
  // The others became voters: the creating hub's proposal enlisting them as external
  // senders is pending, and each member holds it, as a client does (moderation/enlistHubs.ts).
  // (A hub on LMDB delivers once its write is on disk.)
  await net.settleUntil(() => members.every((m, i) => hubProposals(envs[i]!, m).length > 0));
  for (const [i, m] of members.entries()) {
    expect(await applyHubProposals(envs[i]!, m)).toHaveLength(1);
  }
  return { net, hubs: Object.fromEntries(homes.map(([d], i) => [d, envs[i]!])), members };
}

/** The hub's proposals a device received at its current epoch after `after`. */
export function hubProposals(env: Env, c: Client, after = -1n): Frame[] {
  const epoch = c.state!.groupContext.epoch;
  return deliveredTo(env, c.senderId, Opcode.PROPOSAL).filter(
    (f) => f.header.senderId === 0n && f.header.epoch === epoch && f.header.logIndex > after,
  );
}

/**
 * The hub's proposals (enlisting hubs, kicks) a device received at its current epoch after
 * `after`, applied to its state, as the client core does with every PROPOSAL it is sent.
 */
export async function applyHubProposals(env: Env, c: Client, after = -1n): Promise<Frame[]> {
  const frames = hubProposals(env, c, after);
  for (const f of frames) {
    const message = decodePayload(Opcode.PROPOSAL, f.payload).message;
    c.state = await process(env.cs, c.state!, decodeMlsMessage(message, 0)![0]);
  }
  return frames;
}

type Welcome = NonNullable<Awaited<ReturnType<typeof commit>>["welcome"]>;

/**
 * `adder` (homed on `env`) commits the Add of `newcomers` to ROOM at `epoch`, their Welcome
 * routed by their home hubs; returns the Welcome (each newcomer joins with it).
 */
export async function addMembers(
  net: Net,
  env: Env,
  adder: Client,
  epoch: bigint,
  newcomers: readonly Client[],
): Promise<Welcome> {
  const made = await commit(
    env.cs,
    adder.state!,
    newcomers.map((n) => ({ proposalType: "add", add: { keyPackage: n.device.publicPackage } })),
  );
  const added = await sendVia(
    net,
    env,
    adder,
    frameOf(adder, Opcode.COMMIT, ROOM, epoch, {
      commit: made.commit,
      group_info: made.groupInfo,
      welcome: encodeMlsMessage(made.welcome!),
      welcome_recipients: newcomers.map((n) => n.senderId),
    }),
  );
  expect(added.opcode).toBe(Opcode.ACK);
  adder.state = made.state;
  return made.welcome!;
}

export function headers(env: Env): string[] {
  return env.storage.readRange(ROOM, 0n, 1000).map((f) => Buffer.from(f.header).toString("hex"));
}

/** A hub's moderation (kick, redact) over its hub core and storage, as kalandrad builds it. */
export function moderationOf(net: Net, env: Env): Moderation {
  const state = loadModerationState(env.storage);
  return new Moderation({
    hub: env.hub,
    storage: env.storage,
    clock: net.time,
    timers: net.time,
    bans: state.bans,
    retention: state.retention,
  });
}

export const FAILOVER_MS = 1000;

/** A planned transfer of ROOM from `from` to `to`, run to its end: `to` sequences in `term`. */
export async function transferred(net: Net, from: string, to: string, term: bigint): Promise<void> {
  const moving = net.hub(from).hub.federation!.transfer(ROOM, to);
  await net.settle();
  expect(await moving).toMatchObject({ ok: true, term });
}

/** Lets the voters notice the silence and elect one of them; returns the new authority. */
export async function failover(net: Net, voters: string[]): Promise<string> {
  const winner = () =>
    voters.find((d) => net.hub(d).hub.federation!.roomAuthority(ROOM)?.authority === d);
  if (!(await tickUntil(net, voters, () => winner() !== undefined, 400))) {
    throw new Error("no failover");
  }
  return winner()!;
}

/**
 * Lets virtual time pass in fine steps (the random part of each voter's failover delay sets
 * them apart), ticking the hubs `ticking` (failover timers, resends, expiries) and settling
 * the network after each step, until `done()` holds after one or `steps` have passed; true
 * when `done()` held.
 */
export async function tickUntil(
  net: Net,
  ticking: readonly string[],
  done: () => boolean,
  steps: number,
): Promise<boolean> {
  for (let step = 0; step < steps; step++) {
    net.time.advance(FAILOVER_MS / 20);
    for (const d of ticking) net.hub(d).hub.federation!.tick();
    await net.settle();
    if (done()) return true;
  }
  return false;
}

/** The AUTHORITY_VOTE answers `from` sent `to`, in order. */
export function votes(
  net: Net,
  from: string,
  to: string,
): PayloadOf<typeof Opcode.AUTHORITY_VOTE>[] {
  const key = net.signers.get(from)!.publicKey;
  return net.log
    .filter((m) => m.from === from && m.to === to)
    .map((m) => openEnvelope(m.bytes, key, { maxHops: 3 }).inner)
    .filter((f) => f.header.opcode === Opcode.AUTHORITY_VOTE)
    .map((f) => decodePayload(Opcode.AUTHORITY_VOTE, f.payload));
}

/**
 * Holds the hub's `installRoom` or `settle` (what its federation core asks of it) until
 * `release()`: a slow shard. `entered` turns true when the core first asks.
 */
export function holdLocal(
  env: Env,
  what: "installRoom" | "settle",
): { release(): void; readonly entered: boolean } {
  const fed = env.hub.federation!;
  const local = (fed as unknown as { local: LocalHub }).local;
  let release = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  const state = { entered: false, release: () => release() };
  const wait = async () => {
    state.entered = true;
    await held;
  };
  fed.attach(
    what === "installRoom"
      ? {
          ...local,
          installRoom: async (h) => {
            await wait();
            return local.installRoom!(h);
          },
        }
      : {
          ...local,
          settle: async () => {
            await wait();
            await local.settle?.();
          },
        },
  );
  return state;
}
