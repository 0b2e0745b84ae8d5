/**
 * Test harness for the hub core: a manual clock and timer queue (DESIGN §2: time is
 * injected), a recording sink, and real MLS devices (ts-mls, test/mls/mlsClients.ts) whose
 * leaf signature key is also their frame key (docs/contracts.md "Identity").
 */
import {
  createDeviceSigner,
  type DeviceSigner,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  Flag,
  Frame,
  FrameHeader,
  Opcode,
  type PayloadOf,
} from "@kalandra/proto";
import { ManualTime, seededRng } from "@kalandra/test-support";
import type { CiphersuiteImpl, ClientState } from "ts-mls";
import { HubCore, type HubLimits } from "../../src/hub/hubCore.js";
import { shardModeration } from "../../src/moderation/shardModeration.js";
import { publicGroupViews } from "../../src/sequencer/publicGroupViews.js";
import type { ShardSet } from "../../src/shards/shardSet.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import type { Storage } from "../../src/storage/types.js";
import type { Target } from "../../src/vocabulary/target.js";
import { type Device, device, type Hub, hubKeys, suite } from "../mls/mlsClients.js";

/** The hub's Ed25519 seed in tests (worker shards get it to sign responses). */
export const HUB_SEED = new Uint8Array(32).fill(7);

export { ManualTime };

export interface Sent {
  target: Target;
  frame: Frame;
  bytes: Uint8Array;
}

export interface Client {
  name: string;
  device: Device;
  signer: DeviceSigner;
  senderId: bigint;
  sessionId: string;
  state?: ClientState;
  nextRequest: number;
}

export interface Env {
  cs: CiphersuiteImpl;
  hubMls: Hub;
  hubSigner: DeviceSigner;
  time: ManualTime;
  storage: Storage;
  out: Sent[];
  hub: HubCore;
  limits: Partial<HubLimits>;
  /** The recording sink (a shard runtime built by `shards` must push to it). */
  sink: (target: Target, bytes: Uint8Array) => void;
  shards?: (env: Env) => ShardSet | Promise<ShardSet>;
}

let shared: { cs: CiphersuiteImpl; hubMls: Hub } | undefined;

export async function makeEnv(
  opts: {
    limits?: Partial<HubLimits>;
    storage?: Storage;
    shards?: (env: Env) => ShardSet | Promise<ShardSet>;
  } = {},
): Promise<Env> {
  if (shared === undefined) {
    const cs = await suite();
    shared = { cs, hubMls: await hubKeys(cs) };
  }
  const env = {
    ...shared,
    hubSigner: createDeviceSigner(HUB_SEED),
    time: new ManualTime(),
    storage: opts.storage ?? new MemoryStorage(),
    out: [] as Sent[],
    limits: opts.limits ?? {},
    ...(opts.shards === undefined ? {} : { shards: opts.shards }),
  } as Env;
  env.hub = await openHub(env);
  return env;
}

/** Opens (or reopens, after a "crash") the hub core over the env's storage. */
export async function openHub(env: Env): Promise<HubCore> {
  const sink = (target: Target, bytes: Uint8Array) => {
    env.out.push({ target, frame: Frame.fromWire(bytes), bytes });
  };
  env.sink = sink;
  env.hub = await HubCore.open({
    storage: env.storage,
    clock: env.time,
    rng: seededRng("hub-core"),
    timers: env.time,
    hubSigner: env.hubSigner,
    sink,
    groups: publicGroupViews(env.hubMls.publicKey),
    limits: env.limits,
    ...(env.shards === undefined ? {} : { shards: await env.shards(env) }),
    shardModeration,
  });
  return env.hub;
}

let sessionSeq = 0;

/**
 * Registers an MLS device as the hub would at its first authentication (DESIGN §10): its
 * key packages and the leaves it brings into groups are bound to `userId` from then on.
 */
export async function registerDevice(
  env: Pick<Env, "storage">,
  d: Device,
  userId: string,
): Promise<void> {
  const key = createDeviceSigner(d.privatePackage.signaturePrivateKey.subarray(-32)).publicKey;
  await env.storage.bindDevice(
    { senderId: deriveSenderId(key), deviceKey: key, userId, boundAt: 0n },
    Number.MAX_SAFE_INTEGER,
  );
}

export async function makeClient(env: Env, name: string, attach = true): Promise<Client> {
  const d = await device(env.cs, name);
  const seed = d.privatePackage.signaturePrivateKey.subarray(-32);
  const signer = createDeviceSigner(seed);
  const c: Client = {
    name,
    device: d,
    signer,
    senderId: deriveSenderId(signer.publicKey),
    sessionId: `s${++sessionSeq}-${name}`,
    nextRequest: 1,
  };
  await registerDevice(env, d, name);
  if (attach) env.hub.attachSession(c.sessionId, signer.publicKey, name);
  return c;
}

export function frameOf<Op extends Opcode>(
  c: Client,
  opcode: Op,
  roomId: bigint,
  epoch: bigint,
  payload: PayloadOf<Op>,
  requestId = c.nextRequest++,
): Uint8Array {
  return encodeFrame(
    {
      opcode,
      requestId,
      roomId,
      senderId: c.senderId,
      epoch,
      payload: encodePayload(opcode, payload),
    },
    c.signer,
  );
}

export interface Answer {
  opcode: number;
  frame: Frame;
  bytes: Uint8Array;
  error?: { name: string; expected_epoch?: bigint | undefined };
}

/** The response sent to the client's session for `requestId`, if any. */
export function answerTo(env: Env, c: Client, requestId: number): Answer | undefined {
  const hit = env.out.findLast(
    (s) =>
      s.target.kind === "session" &&
      s.target.sessionId === c.sessionId &&
      s.frame.header.has(Flag.RESPONSE) &&
      s.frame.header.requestId === requestId,
  );
  if (hit === undefined) return undefined;
  const a: Answer = { opcode: hit.frame.header.opcode, frame: hit.frame, bytes: hit.bytes };
  if (hit.frame.header.opcode === Opcode.ERROR) {
    const p = decodePayload(Opcode.ERROR, hit.frame.payload);
    a.error = { name: p.name, expected_epoch: p.expected_epoch };
  }
  return a;
}

/** Sends a frame and returns the hub's answer to it. */
export async function send(env: Env, c: Client, bytes: Uint8Array): Promise<Answer> {
  const requestId = FrameHeader.view(bytes).requestId;
  await env.hub.handleFrame(c.sessionId, c.senderId, bytes);
  await env.hub.shards.drain();
  const a = answerTo(env, c, requestId);
  if (a === undefined) throw new Error(`no answer to request ${requestId}`);
  return a;
}

/** `member` sends the commit `c` (with its GroupInfo) for `roomId` at `epoch`. */
export function sendCommit(
  env: Env,
  member: Client,
  roomId: bigint,
  epoch: bigint,
  c: { commit: Uint8Array; groupInfo: Uint8Array },
): Promise<Answer> {
  return send(
    env,
    member,
    frameOf(member, Opcode.COMMIT, roomId, epoch, { commit: c.commit, group_info: c.groupInfo }),
  );
}

/** Frames delivered to a device (fan-out, welcome, commit requests). */
export function deliveredTo(env: Env, senderId: bigint, opcode?: number): Frame[] {
  return env.out
    .filter(
      (s) =>
        ((s.target.kind === "device" && s.target.senderId === senderId) ||
          (s.target.kind === "members" && s.target.senderIds.includes(senderId))) &&
        (opcode === undefined || s.frame.header.opcode === opcode),
    )
    .map((s) => s.frame);
}

export function errorName(a: Answer): string | undefined {
  return a.error?.name;
}
