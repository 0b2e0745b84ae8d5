/**
 * A data directory as kalandrad lays it out (docs/operations.md "What is on disk"): the hub's
 * own LMDB, two worker shard directories, `shards.json` and `hub-key.pem`, with messages whose
 * plaintext carries a marker a raw scan can look for. The storages stay open, as a running
 * hub's would, while backups are taken beside them.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519PrivateKeyObject } from "@kalandra/proto/node";
import { type LmdbStorage, openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { entry, filesUnder, seededRng, utf8 } from "../storage/helpers.js";

export interface Message {
  shard: number;
  room: bigint;
  index: bigint;
  plaintext: Uint8Array;
  key: Uint8Array;
}

export class HubDir {
  readonly messages: Message[] = [];

  private constructor(
    readonly path: string,
    readonly main: LmdbStorage,
    readonly shards: LmdbStorage[],
  ) {}

  static async create(path: string, seed: string): Promise<HubDir> {
    const main = await openLmdbStorage({ path, rng: seededRng(`${seed}/main`), noSync: true });
    const shards = [
      await openLmdbStorage({
        path: join(path, "shard-0"),
        rng: seededRng(`${seed}/0`),
        noSync: true,
      }),
      await openLmdbStorage({
        path: join(path, "shard-1"),
        rng: seededRng(`${seed}/1`),
        noSync: true,
      }),
    ];
    writeFileSync(join(path, "shards.json"), '{"runtime":"worker","shards":2}\n');
    const privateKey = ed25519PrivateKeyObject(randomBytes(32));
    writeFileSync(join(path, "hub-key.pem"), privateKey.export({ type: "pkcs8", format: "pem" }));
    return new HubDir(path, main, shards);
  }

  /** Room `room` lives on shard `shard` here (placement is the test's, not shardOf's). */
  async send(shard: number, room: bigint, count: number): Promise<Message[]> {
    const s = this.shards[shard] as LmdbStorage;
    if (s.getRoom(room) === undefined) {
      await s.putRoom({ roomId: room, createdAt: 1n, settings: {} }, utf8("state"));
    }
    const start = s.nextIndex(room);
    const batch = Array.from({ length: count }, (_, i) => {
      const index = start + BigInt(i);
      return { index, plaintext: utf8(`KLDR-BACKUP-MSG-${room}-${index}-${"x".repeat(40)}`) };
    });
    await s.append(batch.map((b) => entry(room, b.index, b.plaintext)));
    const out = batch.map((b) => ({
      shard,
      room,
      index: b.index,
      plaintext: b.plaintext,
      key: s.inspectPayloadKey(room, b.index) as Uint8Array,
    }));
    this.messages.push(...out);
    return out;
  }

  async erase(m: Message): Promise<void> {
    await (this.shards[m.shard] as LmdbStorage).secureDelete(m.room, m.index, { actor: "test" });
  }

  async close(): Promise<void> {
    for (const s of [...this.shards, this.main]) await s.close();
  }
}

/** The files under `dir` (recursively) that contain `needle` anywhere. */
export function filesHolding(dir: string, needle: Uint8Array): string[] {
  const n = Buffer.from(needle);
  return filesUnder(dir).filter((f) => readFileSync(f).indexOf(n) !== -1);
}
