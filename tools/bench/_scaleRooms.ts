/**
 * Section `rooms` of `pnpm bench scale` (issue 15): a 10,000-member room end to end
 * (quick: 200). Goals at 10,000: join < 2 s, process commit < 100 ms, hub validation
 * < 45 ms, fan-out < 1 s (docs/performance.md "Scale: large rooms").
 *
 * 1. The MLS level (_scaleRoomsMls.ts): the room created in batches of 1,000 (quick: 100)
 *    by the creator's client and validated by the hub's public view; a join from the last
 *    Welcome, commits made, processed and validated, a kick; the default-provider baseline.
 * 2. The hub (_scaleRoomsHub.ts): the same room created through kalandrad, every member
 *    connected over WebSocket, one APP_MESSAGE fanned out to all (against a bare `ws`
 *    fan-out in the same run), a kick's proposal fanned out.
 *
 * BENCH_SCALE_ROOM_MEMBERS / BENCH_SCALE_ROOM_BATCH override the sizes.
 */
import { hubSigner, roomMembers } from "./_scaleRoomsFixture.js";
import { measureRoomOnHub } from "./_scaleRoomsHub.js";
import { measureRoomMls } from "./_scaleRoomsMls.js";

const ROOM_ID = 15_000n;

function sizeFromEnv(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v >= 2 ? v : fallback;
}

export async function scaleRooms(quick: boolean): Promise<Record<string, number | string>> {
  const log = (s: string) => process.stderr.write(`[scale rooms] ${s}\n`);
  const count = sizeFromEnv("BENCH_SCALE_ROOM_MEMBERS", quick ? 200 : 10_000);
  const batch = sizeFromEnv("BENCH_SCALE_ROOM_BATCH", quick ? 100 : 1_000);
  const { members, ms: keyPackagesMs } = await roomMembers(count);
  log(`${count} members' key packages in ${Math.round(keyPackagesMs)} ms`);
  const hub = hubSigner();
  const { figures: mls, built } = await measureRoomMls(ROOM_ID, members, batch, hub, log);
  const onHub = await measureRoomOnHub(ROOM_ID, members, built, hub, log);
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(mls)) out[`rooms_${k}`] = v;
  for (const [k, v] of Object.entries(onHub)) out[`rooms_${k}`] = v;
  // The names for the headline figures.
  return {
    join_welcome_ms: mls.join_welcome_ms,
    process_commit_ms: mls.process_commit_ms,
    hub_validate_commit_ms: mls.hub_validate_commit_ms,
    welcome_bytes: mls.welcome_bytes,
    [`fanout_${count >= 10_000 ? "10k" : count}_ms`]: onHub.fanout_ms,
    ...out,
  };
}
