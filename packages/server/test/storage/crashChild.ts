/**
 * Child process of crash.test.ts: appends frames (and erases some) as fast as it can with
 * real fsyncs, printing each acknowledgement only after the call resolved, until the parent
 * kills it with SIGKILL. stdout is a pipe, which Node writes synchronously on Linux, so a
 * printed line was acknowledged before the kill.
 *
 * Lines: "ready", "ack <room> <from> <to>" (inclusive), "deleting <room> <index>",
 * "deleted <room> <index>".
 * Usage: node --import tsx crashChild.ts <dir> <seed>
 */
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import type { AppendEntry } from "../../src/storage/types.js";
import { crashFrame } from "./crashFrames.js";
import { seededRng } from "./helpers.js";

const [dir, seed] = process.argv.slice(2);
if (dir === undefined || seed === undefined) throw new Error("usage: crashChild.ts <dir> <seed>");
const storage = await openLmdbStorage({ path: dir });
const rng = seededRng(`crash-child/${seed}`);
const rooms = [1n, 2n, 3n];
const next = new Map(rooms.map((r) => [r, storage.nextIndex(r)]));
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
say("ready");

for (let round = 0; round < 100_000; round++) {
  const calls: Promise<void>[] = [];
  for (const room of rooms) {
    const size = 1 + ((rng.bytes(1)[0] ?? 0) % 8);
    const from = next.get(room) ?? 0n;
    const batch: AppendEntry[] = [];
    for (let i = 0n; i < BigInt(size); i++) batch.push(crashFrame(room, from + i));
    next.set(room, from + BigInt(size));
    calls.push(
      storage.append(batch).then(() => say(`ack ${room} ${from} ${from + BigInt(size) - 1n}`)),
    );
  }
  const roll = rng.bytes(2);
  if ((roll[0] ?? 0) < 64) {
    const room = rooms[(roll[1] ?? 0) % rooms.length] ?? 1n;
    const committed = storage.nextIndex(room);
    if (committed > 0n) {
      const index = BigInt(roll[1] ?? 0) % committed;
      say(`deleting ${room} ${index}`);
      calls.push(storage.secureDelete(room, index).then(() => say(`deleted ${room} ${index}`)));
    }
  }
  await Promise.all(calls);
}
await storage.close();
