/**
 * A hub core with moderation for tests: the harness of test/hub (manual time, recording
 * sink, real ts-mls members), except that the hub's frame key is also the rooms' external
 * sender key, as in production (docs/contracts.md "Identity"), so the hub can sign the
 * Remove proposals of a kick itself.
 */
import { spawn } from "node:child_process";
import { createDeviceSigner, Frame } from "@kalandra/proto";
import { HubCore, type HubLimits } from "../../src/hub/hubCore.js";
import type { BanList } from "../../src/moderation/bans.js";
import type { RetentionPolicy } from "../../src/moderation/retention.js";
import { shardRoomData } from "../../src/moderation/roomData.js";
import { loadModerationState, Moderation } from "../../src/moderation/service.js";
import { shardModeration } from "../../src/moderation/shardModeration.js";
import { publicGroupViews } from "../../src/sequencer/publicGroupViews.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import type { Storage } from "../../src/storage/types.js";
import type { Target } from "../../src/vocabulary/target.js";
import { BIN } from "../cli/proc.js";
import { type Env, HUB_SEED, ManualTime, type Sent } from "../hub/harness.js";
import { suite } from "../mls/mlsClients.js";

export interface ModEnv extends Env {
  moderation: Moderation;
  bans: BanList;
}

export async function moderatedEnv(
  opts: {
    storage?: Storage;
    limits?: Partial<HubLimits>;
    retention?: RetentionPolicy;
    time?: ManualTime;
    /** Shards of their own (as kalandrad's worker shards), built at each (re)open. */
    shards?: ModEnv["shards"];
  } = {},
): Promise<ModEnv> {
  const hubSigner = createDeviceSigner(HUB_SEED);
  const env = {
    cs: await suite(),
    hubMls: { publicKey: hubSigner.publicKey, signKey: HUB_SEED },
    hubSigner,
    time: opts.time ?? new ManualTime(),
    storage: opts.storage ?? new MemoryStorage(),
    out: [] as Sent[],
    limits: opts.limits ?? {},
    ...(opts.shards === undefined ? {} : { shards: opts.shards }),
  } as ModEnv;
  await reopen(env, opts.retention);
  return env;
}

/** Opens (or reopens after a restart) the hub and moderation over the env's storage. */
export async function reopen(env: ModEnv, retention?: RetentionPolicy): Promise<void> {
  env.sink = (target: Target, bytes: Uint8Array) => {
    env.out.push({ target, frame: Frame.fromWire(bytes), bytes });
  };
  const state = loadModerationState(env.storage, retention);
  env.bans = state.bans;
  env.hub = await HubCore.open({
    storage: env.storage,
    clock: env.time,
    rng: { bytes: (n) => new Uint8Array(n).fill(3) },
    timers: env.time,
    hubSigner: env.hubSigner,
    sink: env.sink,
    groups: publicGroupViews(env.hubSigner.publicKey),
    limits: env.limits,
    bans: state.bans,
    shardModeration,
    ...(env.shards === undefined ? {} : { shards: await env.shards(env) }),
  });
  env.moderation = new Moderation({
    hub: env.hub,
    storage: env.storage,
    // As kalandrad (runtime/node/startup.ts): the rooms are read where the shards keep them.
    ...(env.shards === undefined ? {} : { rooms: shardRoomData(env.hub.shards) }),
    clock: env.time,
    timers: env.time,
    bans: state.bans,
    retention: state.retention,
    sweepIntervalMs: 1000,
  });
}

/** The bin in a child process, without blocking this process (it serves the HTTP API). */
export function runCli(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
