/**
 * `kalandrad backup verify DIR [--key FILE]`: checks a backup offline, without the hub.
 *
 * Always: the manifest's shape, every file's size and SHA-256, each LMDB copy opens and
 * holds exactly the rooms (with their last log_index), live keys and vault slots the
 * manifest names, each audit chain verifies, the sealed key files have the right size and
 * the erasure journal decodes. With the backup key file as well: the backup key unwraps,
 * every sealed chunk authenticates, the hub key matches the manifest's public key, and every
 * live frame's sealed payload opens with its key (frames the journal names are skipped:
 * their key may have been wiped while the backup read it).
 */
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ed25519RawPublicKey } from "@kalandra/proto/node";
import { verifyAuditChain } from "../../../audit/chain.js";
import { StorageError } from "../../errors.js";
import { copyBytes, frameKey } from "../../keys.js";
import { openPayload } from "../../seal.js";
import { SLOT_BYTES } from "../vault.js";
import { readAuditTable } from "../verifyLog.js";
import { SEALED_HUB_KEY_FILE } from "./create.js";
import { lastIndexes, liveKeyRefs, vaultHwm, withEnv } from "./envs.js";
import { BackupError } from "./errors.js";
import { decodeJournal, JOURNAL_FILE } from "./journal.js";
import { readBackupKey } from "./keyFile.js";
import { type BackupManifest, checkFiles, type EnvEntry, readManifest } from "./manifest.js";
import { forEachKeyChunk, SEALED_KEYS_FILE } from "./sealedKeys.js";
import { HUB_KEY_STREAM, openChunk, unwrapBackupKey } from "./sealing.js";

export interface VerifyReport {
  manifest: BackupManifest;
  rooms: number;
  /** Live frames whose payload was opened with its key (0 without the key file). */
  framesOpened: number;
  /** Whether the key file was given (sealed contents checked too). */
  deep: boolean;
}

export async function verifyBackup(
  dir: string,
  o: { keyFile?: string } = {},
): Promise<VerifyReport> {
  const from = resolve(dir);
  const m = readManifest(from);
  checkFiles(from, m);
  const journal = decodeJournal(new Uint8Array(readFileSync(join(from, JOURNAL_FILE))));
  if (journal.length !== m.journal_entries) {
    throw new BackupError(
      "CORRUPT",
      `journal holds ${journal.length} entries, manifest ${m.journal_entries}`,
    );
  }
  const skip = new Set(
    journal.map((e) => Buffer.from(frameKey(e.roomId, e.logIndex)).toString("hex")),
  );
  let backupKey: Uint8Array | undefined;
  const id = Uint8Array.from(Buffer.from(m.id, "hex"));
  if (o.keyFile !== undefined) {
    const master = readBackupKey(o.keyFile);
    if (master.id !== m.backup_key.key_id) {
      throw new BackupError(
        "KEY",
        `the backup was made under key ${m.backup_key.key_id}; ${o.keyFile} holds ${master.id}`,
      );
    }
    backupKey = unwrapBackupKey(master.key, id, m.backup_key.wrapped);
    master.key.fill(0);
  }
  let rooms = 0;
  let framesOpened = 0;
  try {
    for (const e of m.envs) {
      const r = await checkEnv(
        from,
        e,
        backupKey === undefined ? undefined : { backupKey, id, skip },
      );
      rooms += r.rooms;
      framesOpened += r.opened;
    }
    if (backupKey !== undefined && m.files[SEALED_HUB_KEY_FILE] !== undefined) {
      const sealed = new Uint8Array(readFileSync(join(from, SEALED_HUB_KEY_FILE)));
      const pem = openChunk(backupKey, id, HUB_KEY_STREAM, 0, sealed);
      const pub = Buffer.from(
        ed25519RawPublicKey(createPrivateKey(Buffer.from(pem).toString("utf8"))),
      );
      pem.fill(0);
      if (pub.toString("hex") !== m.hub_public_key) {
        throw new BackupError(
          "CORRUPT",
          "the sealed hub key does not match the manifest's public key",
        );
      }
    }
  } finally {
    backupKey?.fill(0);
  }
  return { manifest: m, rooms, framesOpened, deep: backupKey !== undefined };
}

async function checkEnv(
  from: string,
  e: EnvEntry,
  deep: { backupKey: Uint8Array; id: Uint8Array; skip: ReadonlySet<string> } | undefined,
): Promise<{ rooms: number; opened: number }> {
  const dir = join(from, e.dir);
  const bad = (why: string): never => {
    throw new BackupError("CORRUPT", `${dir}: ${why}`);
  };
  return withEnv(dir, { readOnly: true }, (env) => {
    const t = env.tables;
    const rooms = lastIndexes(t);
    const want = Object.entries(e.rooms).sort();
    const got = Object.entries(rooms).sort();
    if (JSON.stringify(want) !== JSON.stringify(got))
      bad("its rooms or their last log_index differ from the manifest");
    if (vaultHwm(t) !== e.vault_slots) bad(`vault slots ${vaultHwm(t)}, manifest ${e.vault_slots}`);
    const refs = [...liveKeyRefs(t)];
    if (refs.length !== e.live_keys) bad(`${refs.length} live keys, manifest ${e.live_keys}`);
    const { records, head } = readAuditTable(t);
    const audit = verifyAuditChain(records, head);
    if (!audit.ok) bad(`audit chain broken at record ${audit.firstBroken}: ${audit.reason}`);
    if (records.length !== e.audit_records)
      bad(`${records.length} audit records, manifest ${e.audit_records}`);
    if (deep === undefined) return { rooms: got.length, opened: 0 };
    // Which frame uses which slot, to open each payload with the key of its slot.
    const bySlot = new Map<number, Uint8Array>();
    for (const r of refs) bySlot.set(r.slot, r.key);
    let opened = 0;
    const sealing = { backupKey: deep.backupKey, id: deep.id, stream: e.stream };
    forEachKeyChunk(join(dir, SEALED_KEYS_FILE), e.vault_slots, sealing, (first, keys) => {
      for (let i = 0; i < keys.length / SLOT_BYTES; i++) {
        const fk = bySlot.get(first + i);
        if (fk === undefined || deep.skip.has(Buffer.from(fk).toString("hex"))) continue;
        const sealed = t.payloads.get(fk);
        if (sealed === undefined)
          bad(`frame ${Buffer.from(fk).toString("hex")} has a live key but no payload`);
        try {
          openPayload(
            copyBytes(keys.subarray(i * SLOT_BYTES, (i + 1) * SLOT_BYTES)),
            fk,
            copyBytes(sealed as Uint8Array),
          );
        } catch (err) {
          if (err instanceof StorageError)
            bad(
              `frame ${Buffer.from(fk).toString("hex")}: its sealed key does not open its payload`,
            );
          throw err;
        }
        opened++;
      }
    });
    return { rooms: got.length, opened };
  });
}
