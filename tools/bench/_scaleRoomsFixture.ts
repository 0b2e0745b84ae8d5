/**
 * Members of a large room for `pnpm bench scale` (section `rooms`, _scaleRooms.ts): one
 * device per member whose Ed25519 device key is also its MLS leaf signature key (docs/
 * contracts.md, Identity), so the same members can both sit in an MLS group and hold real
 * sessions on a hub.
 *
 * Key packages cost ~0.8 ms each with the node:crypto provider (8 s for 10,000 on this
 * machine): they are cached under the OS temp dir, keyed by the member count, so a re-run
 * starts at once. Device seeds come from a seeded Rng (same devices every run); the HPKE keys
 * of a key package come from the provider's system randomness, hence the cache.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createDeviceSigner, type DeviceSigner, deriveSenderId } from "@kalandra/proto";
import { seededRng } from "@kalandra/test-support";
import {
  type CiphersuiteImpl,
  defaultLifetime,
  generateKeyPackageWithKey,
  type KeyPackage,
  type PrivateKeyPackage,
} from "ts-mls";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { decodeVarLenData, varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import { decodeKeyPackage, encodeKeyPackage } from "ts-mls/keyPackage.js";
import { getKalandraCiphersuiteImpl } from "../../packages/client/src/crypto/index.js";
import { capabilities } from "./_mlsFixtures.js";

const te = new TextEncoder();
const encodeVarLen = encode(varLenDataEncoder);
const CACHE_VERSION = 1;

export interface RoomMember {
  userId: string;
  seed: Uint8Array;
  signer: DeviceSigner;
  senderId: bigint;
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
}

/** The hub's key: the room's external sender 0 (DESIGN §6); the bench's hub runs with it. */
export interface HubSigner {
  seed: Uint8Array;
  publicKey: Uint8Array;
  signer: DeviceSigner;
}

export const cs: CiphersuiteImpl = getKalandraCiphersuiteImpl();

function seedOf(i: number): Uint8Array {
  return seededRng(`scale-rooms-device-${i}`).bytes(32);
}

async function makeMember(i: number): Promise<RoomMember> {
  const seed = seedOf(i);
  const signer = createDeviceSigner(seed);
  const userId = `user-${i}`;
  const kp = await generateKeyPackageWithKey(
    { credentialType: "basic", identity: te.encode(userId) },
    capabilities,
    defaultLifetime,
    [],
    { signKey: seed, publicKey: signer.publicKey },
    cs,
  );
  return { userId, seed, signer, senderId: deriveSenderId(signer.publicKey), ...kp };
}

function cachePath(count: number): string {
  return join(tmpdir(), "kalandra-bench-scale-rooms", `members-v${CACHE_VERSION}-${count}.bin`);
}

/** One record per member: key package, then its init and HPKE private keys (varlen each). */
function writeCache(path: string, members: RoomMember[]): void {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    parts.push(encodeVarLen(encodeKeyPackage(m.publicPackage)));
    parts.push(encodeVarLen(m.privatePackage.initPrivateKey));
    parts.push(encodeVarLen(m.privatePackage.hpkePrivateKey));
  }
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(`${path}.tmp`, Buffer.concat(parts));
  renameSync(`${path}.tmp`, path);
}

function readCache(path: string, count: number): RoomMember[] | undefined {
  if (!existsSync(path)) return undefined;
  const bytes = new Uint8Array(readFileSync(path));
  const out: RoomMember[] = [];
  let off = 0;
  const next = (): Uint8Array => {
    const d = decodeVarLenData(bytes, off);
    if (d === undefined) throw new Error("truncated cache");
    off += d[1];
    return d[0].slice();
  };
  try {
    for (let i = 0; i < count; i++) {
      const kp = decodeKeyPackage(next(), 0)?.[0];
      const initPrivateKey = next();
      const hpkePrivateKey = next();
      const seed = seedOf(i);
      const signer = createDeviceSigner(seed);
      if (kp === undefined || !Buffer.from(kp.leafNode.signaturePublicKey).equals(signer.publicKey))
        return undefined;
      out.push({
        userId: `user-${i}`,
        seed,
        signer,
        senderId: deriveSenderId(signer.publicKey),
        publicPackage: kp,
        privatePackage: { initPrivateKey, hpkePrivateKey, signaturePrivateKey: seed },
      });
    }
  } catch {
    return undefined;
  }
  return off === bytes.length ? out : undefined;
}

/** `count` members (member 0 creates the room), from the cache when it holds them. */
export async function roomMembers(count: number): Promise<{ members: RoomMember[]; ms: number }> {
  const t0 = performance.now();
  const path = cachePath(count);
  const cached = readCache(path, count);
  if (cached !== undefined) return { members: cached, ms: performance.now() - t0 };
  const members: RoomMember[] = [];
  for (let i = 0; i < count; i++) members.push(await makeMember(i));
  writeCache(path, members);
  return { members, ms: performance.now() - t0 };
}

export function hubSigner(): HubSigner {
  const seed = seededRng("scale-rooms-hub").bytes(32);
  const signer = createDeviceSigner(seed);
  return { seed, publicKey: signer.publicKey, signer };
}
