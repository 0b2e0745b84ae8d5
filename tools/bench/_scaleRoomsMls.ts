/**
 * A large room at the MLS level, in one process, with the code Kalandra runs: the client's
 * MLS operations (packages/client/src/mls/group.ts, node:crypto provider) and the hub's
 * public view (`PublicGroup`, packages/server/src/mls). Part of `pnpm bench scale` section
 * `rooms` (_scaleRooms.ts).
 *
 * The room is created in batches (one commit adding `batch` members, as the creator's
 * client would after claiming their key packages), each validated by the hub. Then, at full
 * size: the last member joins from the last batch's Welcome; the creator commits (the first
 * commit after the adds carries path secrets for every blank subtree, the later ones are
 * smaller) and the joiner processes each commit; the hub validates each; a kick (the hub's
 * external Remove, committed by the creator by reference).
 *
 * Baselines in the same run: the same join and commit processing with ts-mls's default
 * provider (WebCrypto) instead of Kalandra's.
 */
import { performance } from "node:perf_hooks";
import {
  DEFAULT_MAX_PAYLOAD,
  encodePayload,
  maxSequencedPayload,
  Opcode,
  toHex,
} from "@kalandra/proto";
import {
  type ClientState,
  defaultCryptoProvider,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from "ts-mls";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import {
  commitWith,
  createRoomGroup,
  groupInfoMessage,
  joinFromWelcome,
  processHandshake,
} from "../../packages/client/src/mls/group.js";
import type { OwnKeyPackage } from "../../packages/client/src/state/device.js";
import { PublicGroup } from "../../packages/server/src/mls/index.js";
import { buildExternalRemove } from "../../packages/server/src/moderation/removal.js";
import { SUITE } from "./_mlsFixtures.js";
import { cs, type HubSigner, type RoomMember } from "./_scaleRoomsFixture.js";

export interface RoomMlsFigures {
  members: number;
  batch: number;
  /** The last batch: its add commit made by the creator, and its validation by the hub. */
  add_batch_commit_ms: number;
  add_batch_hub_validate_ms: number;
  /** All batches, creator + hub, end to end. */
  create_room_ms: number;
  /** The largest COMMIT payload (commit, GroupInfo, Welcome: CBOR) against the frame limit. */
  commit_payload_bytes_max: number;
  max_sequenced_payload_bytes: number;
  welcome_bytes: number;
  group_info_bytes: number;
  join_welcome_ms: number;
  join_welcome_cpu_ms: number;
  join_welcome_default_provider_ms: number;
  first_commit_bytes: number;
  first_commit_create_ms: number;
  process_first_commit_ms: number;
  hub_validate_first_commit_ms: number;
  commit_bytes: number;
  create_commit_ms: number;
  process_commit_ms: number;
  process_commit_cpu_ms: number;
  process_commit_default_provider_ms: number;
  hub_validate_commit_ms: number;
  hub_validate_commit_cpu_ms: number;
  kick_propose_ms: number;
  kick_commit_ms: number;
  kick_hub_validate_ms: number;
  kick_process_ms: number;
}

/** What the fan-out part needs to put the same room on a hub. */
export interface BuiltRoom {
  /** ROOM_CREATE's GroupInfo and each batch's commit + GroupInfo, in order. */
  creation: Uint8Array;
  batches: { commit: Uint8Array; groupInfo: Uint8Array }[];
}

const ROUNDS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return round(s[s.length >> 1] ?? Number.NaN);
}
const round = (x: number) => Math.round(x * 10) / 10;

/** Wall time, and the process's CPU time (steadier on a shared machine; WebCrypto's pool included). */
async function timed<T>(f: () => Promise<T> | T): Promise<[T, number, number]> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return [r, wall, (c.user + c.system) / 1000];
}

function accepted<T extends { ok: boolean }>(r: T, what: string): T & { ok: true } {
  if (!r.ok)
    throw new Error(
      `hub refused ${what}: ${JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`,
    );
  return r as T & { ok: true };
}

async function own(m: RoomMember): Promise<OwnKeyPackage> {
  const ref = toHex(await makeKeyPackageRef(m.publicPackage, cs.hash));
  return { ref, publicPackage: m.publicPackage, privatePackage: m.privatePackage };
}

export async function measureRoomMls(
  roomId: bigint,
  members: RoomMember[],
  batch: number,
  hub: HubSigner,
  log: (s: string) => void,
): Promise<{ figures: RoomMlsFigures; built: BuiltRoom }> {
  const [creator, ...rest] = members;
  if (creator === undefined || rest.length === 0) throw new RangeError("need at least 2 members");
  const t0 = performance.now();
  let state = await createRoomGroup(roomId, await own(creator), hub.publicKey, cs);
  const creation = await groupInfoMessage(state, cs);
  let view = PublicGroup.fromGroupInfo(creation, hub.publicKey);
  const built: BuiltRoom = { creation, batches: [] };
  let payloadMax = 0;
  let addMs = 0;
  let hubAddMs = 0;
  let welcome: Uint8Array | undefined;
  for (let i = 0; i < rest.length; i += batch) {
    const adds = rest.slice(i, i + batch).map((m) => m.publicPackage);
    const [c, ms] = await timed(() => commitWith(state, cs, { add: adds }));
    const [checked, hubMs] = await timed(() => view.checkCommit(c.commit, c.groupInfo, []));
    view = accepted(checked, "an add commit").next;
    state = c.newState;
    welcome = c.welcome;
    addMs = ms;
    hubAddMs = hubMs;
    built.batches.push({ commit: c.commit, groupInfo: c.groupInfo });
    const payload = encodePayload(Opcode.COMMIT, {
      commit: c.commit,
      group_info: c.groupInfo,
      welcome: c.welcome,
      welcome_recipients: adds.map(() => 0n),
    });
    payloadMax = Math.max(payloadMax, payload.length);
    log(
      `${1 + i + adds.length} members: add ${Math.round(ms)} ms, hub ${Math.round(hubMs)} ms, payload ${payload.length} B`,
    );
  }
  const create_room_ms = performance.now() - t0;
  if (welcome === undefined) throw new Error("no Welcome");

  // The last member joins from the last batch's Welcome (ratchet tree included).
  const last = rest[rest.length - 1] as RoomMember;
  const lastOwn = new Map([[(await own(last)).ref, await own(last)]]);
  const [joined, joinMs, joinCpu] = await timed(() => joinFromWelcome(welcome, lastOwn, cs));
  const defaultCs = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE), defaultCryptoProvider);
  const [, joinDefaultMs] = await timed(() => joinFromWelcome(welcome, lastOwn, defaultCs));
  let bob: ClientState = joined.state;
  log(
    `join ${Math.round(joinMs)} ms (default provider ${Math.round(joinDefaultMs)} ms), welcome ${welcome.length} B`,
  );

  // Commits by the creator, each validated by the hub and processed by the joiner.
  const creates: number[] = [];
  const processes: number[] = [];
  const hubs: number[] = [];
  const hubCpus: number[] = [];
  const processCpus: number[] = [];
  const sizes: number[] = [];
  let processDefaultMs = Number.NaN;
  for (let r = 0; r <= ROUNDS; r++) {
    const [c, createMs] = await timed(() => commitWith(state, cs));
    const [checked, hubMs, hubCpu] = await timed(() => view.checkCommit(c.commit, c.groupInfo, []));
    view = accepted(checked, "an update commit").next;
    if (r === ROUNDS) {
      [, processDefaultMs] = await timed(() => processHandshake(bob, c.commit, defaultCs));
    }
    const [next, processMs, processCpu] = await timed(() => processHandshake(bob, c.commit, cs));
    state = c.newState;
    bob = next;
    creates.push(createMs);
    processes.push(processMs);
    hubs.push(hubMs);
    hubCpus.push(hubCpu);
    processCpus.push(processCpu);
    sizes.push(c.commit.length);
    log(
      `commit ${r}: ${c.commit.length} B, create ${Math.round(createMs)} ms, hub ${Math.round(hubMs)} ms, process ${Math.round(processMs)} ms`,
    );
  }

  // A kick: the hub's external Remove of a member in the middle, committed by reference.
  const kicked = Math.floor(members.length / 2);
  const gi = await groupInfoMessage(state, cs);
  const [proposal, proposeMs] = await timed(() => buildExternalRemove(gi, kicked, hub.signer));
  const ref = accepted(view.checkProposal(proposal), "the hub's Remove").ref;
  const [kick, kickMs] = await timed(async () =>
    commitWith(await processHandshake(state, proposal, cs), cs),
  );
  const [kickChecked, kickHubMs] = await timed(() =>
    view.checkCommit(kick.commit, kick.groupInfo, [ref], [proposal]),
  );
  view = accepted(kickChecked, "the kick commit").next;
  const [, kickProcessMs] = await timed(async () =>
    processHandshake(await processHandshake(bob, proposal, cs), kick.commit, cs),
  );
  if (view.members().length !== members.length - 1)
    throw new Error("the kick did not remove one member");

  return {
    built,
    figures: {
      members: members.length,
      batch,
      add_batch_commit_ms: round(addMs),
      add_batch_hub_validate_ms: round(hubAddMs),
      create_room_ms: Math.round(create_room_ms),
      commit_payload_bytes_max: payloadMax,
      max_sequenced_payload_bytes: maxSequencedPayload(DEFAULT_MAX_PAYLOAD),
      welcome_bytes: welcome.length,
      group_info_bytes: gi.length,
      join_welcome_ms: round(joinMs),
      join_welcome_cpu_ms: round(joinCpu),
      join_welcome_default_provider_ms: round(joinDefaultMs),
      first_commit_bytes: sizes[0] ?? 0,
      first_commit_create_ms: round(creates[0] ?? Number.NaN),
      process_first_commit_ms: round(processes[0] ?? Number.NaN),
      hub_validate_first_commit_ms: round(hubs[0] ?? Number.NaN),
      commit_bytes: sizes[sizes.length - 1] ?? 0,
      create_commit_ms: median(creates.slice(1)),
      process_commit_ms: median(processes.slice(1)),
      process_commit_cpu_ms: median(processCpus.slice(1)),
      process_commit_default_provider_ms: round(processDefaultMs),
      hub_validate_commit_ms: median(hubs.slice(1)),
      hub_validate_commit_cpu_ms: median(hubCpus.slice(1)),
      kick_propose_ms: round(proposeMs),
      kick_commit_ms: round(kickMs),
      kick_hub_validate_ms: round(kickHubMs),
      kick_process_ms: round(kickProcessMs),
    },
  };
}
