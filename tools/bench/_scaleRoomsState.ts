/**
 * A large room's state at one epoch, saved to disk, so a single commit can be validated by
 * the hub and processed by a member, and profiled, without building the room again
 * (`pnpm bench scaleCommit`; building 10,000 members takes one to several minutes).
 *
 * Saved: the joiner's ClientState (encodeGroupState) and the hub's PublicGroup, both after
 * the creator's first commit following the adds (the one that fills the blank path), and
 * the creator's next commits with their GroupInfos, in order. Cached under the OS temp dir
 * next to the members' key packages (_scaleRoomsFixture.ts), keyed by the member count.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toHex } from "@kalandra/proto";
import type { ClientState } from "ts-mls";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { decodeVarLenData, varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import {
  commitWith,
  createRoomGroup,
  decodeState,
  encodeState,
  joinFromWelcome,
  processHandshake,
} from "../../packages/client/src/mls/group.js";
import type { OwnKeyPackage } from "../../packages/client/src/state/device.js";
import { PublicGroup } from "../../packages/server/src/mls/index.js";
import { cs, type HubSigner, type RoomMember } from "./_scaleRoomsFixture.js";

const encodeVarLen = encode(varLenDataEncoder);
const STATE_VERSION = 1;

export interface SavedCommit {
  commit: Uint8Array;
  groupInfo: Uint8Array;
}

export interface RoomCommitState {
  /** The last member, joined from the last batch's Welcome, at epoch E. */
  member: ClientState;
  /** The hub's view at epoch E. */
  hub: PublicGroup;
  /** The creator's commits for epochs E+1, E+2, …, each with its GroupInfo. */
  commits: SavedCommit[];
}

async function own(m: RoomMember): Promise<OwnKeyPackage> {
  const ref = toHex(await makeKeyPackageRef(m.publicPackage, cs.hash));
  return { ref, publicPackage: m.publicPackage, privatePackage: m.privatePackage };
}

function statePath(count: number, commits: number): string {
  return join(
    tmpdir(),
    "kalandra-bench-scale-rooms",
    `commit-state-v${STATE_VERSION}-${count}-${commits}.bin`,
  );
}

async function build(
  roomId: bigint,
  members: RoomMember[],
  batch: number,
  hub: HubSigner,
  commitCount: number,
  log: (s: string) => void,
): Promise<RoomCommitState> {
  const [creator, ...rest] = members;
  if (creator === undefined || rest.length === 0) throw new RangeError("need at least 2 members");
  let state = await createRoomGroup(roomId, await own(creator), hub.publicKey, cs);
  let welcome: Uint8Array | undefined;
  for (let i = 0; i < rest.length; i += batch) {
    const c = await commitWith(state, cs, {
      add: rest.slice(i, i + batch).map((m) => m.publicPackage),
    });
    state = c.newState;
    welcome = c.welcome;
    log(`state: ${1 + Math.min(i + batch, rest.length)} members`);
  }
  if (welcome === undefined) throw new Error("no Welcome");
  const last = await own(rest[rest.length - 1] as RoomMember);
  let member = (await joinFromWelcome(welcome, new Map([[last.ref, last]]), cs)).state;
  // The first commit after add-only batches fills the blank path (docs/performance.md).
  const first = await commitWith(state, cs);
  state = first.newState;
  member = await processHandshake(member, first.commit, cs);
  const view = PublicGroup.fromGroupInfo(first.groupInfo, hub.publicKey);
  const commits: SavedCommit[] = [];
  for (let r = 0; r < commitCount; r++) {
    const c = await commitWith(state, cs);
    state = c.newState;
    commits.push({ commit: c.commit, groupInfo: c.groupInfo });
  }
  return { member, hub: view, commits };
}

function write(path: string, s: RoomCommitState): void {
  const parts = [encodeVarLen(encodeState(s.member)), encodeVarLen(s.hub.encode())];
  for (const c of s.commits) parts.push(encodeVarLen(c.commit), encodeVarLen(c.groupInfo));
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(`${path}.tmp`, Buffer.concat(parts));
  renameSync(`${path}.tmp`, path);
}

function read(path: string, commitCount: number): RoomCommitState | undefined {
  if (!existsSync(path)) return undefined;
  const bytes = new Uint8Array(readFileSync(path));
  let off = 0;
  const next = (): Uint8Array => {
    const d = decodeVarLenData(bytes, off);
    if (d === undefined) throw new Error("truncated commit state");
    off += d[1];
    return d[0];
  };
  try {
    const member = decodeState(next());
    const hub = PublicGroup.decode(next());
    const commits: SavedCommit[] = [];
    for (let r = 0; r < commitCount; r++) commits.push({ commit: next(), groupInfo: next() });
    return off === bytes.length ? { member, hub, commits } : undefined;
  } catch {
    return undefined;
  }
}

/** The saved state for `members.length` members, built (and saved) when absent. */
export async function roomCommitState(
  roomId: bigint,
  members: RoomMember[],
  batch: number,
  hub: HubSigner,
  commitCount: number,
  log: (s: string) => void,
): Promise<{ state: RoomCommitState; built: boolean }> {
  const path = statePath(members.length, commitCount);
  const saved = read(path, commitCount);
  if (saved !== undefined) return { state: saved, built: false };
  const state = await build(roomId, members, batch, hub, commitCount, log);
  write(path, state);
  return { state, built: true };
}
