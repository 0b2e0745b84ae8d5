/**
 * The shard's seam to moderation (shards/shardCore.ts `ShardModeration`): moderation is
 * handed to the shards by whoever builds them, the core never imports it. A hub built
 * without it still sequences, and refuses what only moderation can do instead of failing.
 */
import { describe, expect, it } from "vitest";
import { HubCore } from "../../src/hub/hubCore.js";
import { publicGroupViews } from "../../src/sequencer/publicGroupViews.js";
import { moderatedEnv } from "../moderation/support.js";
import { roomWith } from "../sequencer/room.js";

describe("shards and moderation", () => {
  it("kicks through the moderation the hub was given, and refuses them FORBIDDEN without it", async () => {
    // The hub's key is the groups' external sender here, so it can build removals.
    const env = await moderatedEnv();
    const { roomId } = await roomWith(["alice", "bob"], { env });
    const bare = await HubCore.open({
      storage: env.storage,
      clock: env.time,
      rng: { bytes: (n: number) => new Uint8Array(n).fill(1) },
      timers: env.time,
      hubSigner: env.hubSigner,
      sink: env.sink,
      groups: publicGroupViews(env.hubMls.publicKey),
    });
    const refused = await bare.kick(roomId, "bob");
    expect(refused).toEqual({
      ok: false,
      refusal: { code: "FORBIDDEN", message: "no moderation in this shard" },
    });
    await bare.shards.close();
    const kicked = await env.hub.kick(roomId, "bob");
    expect(kicked).toMatchObject({ ok: true });
    expect(kicked.ok && kicked.kick?.leaves).toEqual([1]);
  });
});
