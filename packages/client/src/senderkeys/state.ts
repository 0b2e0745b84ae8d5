/**
 * Persisted form of an `EpochSenderKeys` (docs/client.md "Window and forward secrecy"),
 * so a restarted client neither seals a generation twice nor opens a message twice.
 * Secret: it holds chain keys and skipped message keys. Big-endian:
 *
 *   magic "KSK1" (4) | version 0x01 (1) | flags (1: bit0 exporter kept, bit1 closed
 *   sender set) | reserved u16 = 0 (2) | room_id (16) | epoch u64 (8) | own_leaf u32 (4) |
 *   max_skip u32 (4) | max_ahead u32 (4) | [exporter (32) if bit0] | chains u32 (4)
 *   chain:   leaf u32 | generation u64 | chain_key (32) | skipped u32 | skipped × (generation u32 | key (32))
 */
import { SenderKeyError } from "./errors.js";
import { isU32, KEY_BYTES, MAX_GENERATION } from "./ratchet.js";

const MAGIC = 0x4b534b31; // "KSK1"
const VERSION = 1;
const FLAG_EXPORTER = 1;
const FLAG_CLOSED = 2;
const FIXED = 4 + 1 + 1 + 2 + 16 + 8 + 4 + 4 + 4;

export interface ChainState {
  readonly leaf: number;
  readonly generation: number;
  readonly chainKey: Uint8Array;
  readonly skipped: ReadonlyArray<readonly [number, Uint8Array]>;
}

export interface KeysState {
  readonly roomId: bigint;
  readonly epoch: bigint;
  readonly ownLeaf: number;
  readonly maxSkip: number;
  readonly maxAheadGenerations: number;
  readonly closedSet: boolean;
  readonly exporter: Uint8Array | undefined;
  readonly chains: readonly ChainState[];
}

export function encodeKeysState(s: KeysState): Uint8Array {
  let size = FIXED + (s.exporter !== undefined ? KEY_BYTES : 0) + 4;
  for (const c of s.chains) size += 4 + 8 + KEY_BYTES + 4 + c.skipped.length * (4 + KEY_BYTES);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC);
  v.setUint8(4, VERSION);
  v.setUint8(5, (s.exporter !== undefined ? FLAG_EXPORTER : 0) | (s.closedSet ? FLAG_CLOSED : 0));
  v.setBigUint64(8, s.roomId >> 64n);
  v.setBigUint64(16, s.roomId & 0xffff_ffff_ffff_ffffn);
  v.setBigUint64(24, s.epoch);
  v.setUint32(32, s.ownLeaf);
  v.setUint32(36, s.maxSkip);
  v.setUint32(40, s.maxAheadGenerations);
  let o = FIXED;
  if (s.exporter !== undefined) {
    out.set(s.exporter, o);
    o += KEY_BYTES;
  }
  v.setUint32(o, s.chains.length);
  o += 4;
  for (const c of s.chains) {
    v.setUint32(o, c.leaf);
    v.setBigUint64(o + 4, BigInt(c.generation));
    out.set(c.chainKey, o + 12);
    v.setUint32(o + 12 + KEY_BYTES, c.skipped.length);
    o += 16 + KEY_BYTES;
    for (const [g, k] of c.skipped) {
      v.setUint32(o, g);
      out.set(k, o + 4);
      o += 4 + KEY_BYTES;
    }
  }
  return out;
}

const bad = (why: string): SenderKeyError => new SenderKeyError("BAD_STATE", why);

/** Parses persisted state; every failure is `SenderKeyError("BAD_STATE")`. Keys are copied. */
export function decodeKeysState(b: Uint8Array): KeysState {
  if (!(b instanceof Uint8Array) || b.length < FIXED + 4) throw bad("shorter than its header");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(0) !== MAGIC) throw bad("bad magic");
  if (v.getUint8(4) !== VERSION) throw bad(`unknown version ${v.getUint8(4)}`);
  const flags = v.getUint8(5);
  if ((flags & ~(FLAG_EXPORTER | FLAG_CLOSED)) !== 0 || v.getUint16(6) !== 0)
    throw bad("reserved bits set");
  const roomId = (v.getBigUint64(8) << 64n) | v.getBigUint64(16);
  const epoch = v.getBigUint64(24);
  const ownLeaf = v.getUint32(32);
  const maxSkip = v.getUint32(36);
  const maxAheadGenerations = v.getUint32(40);
  let o = FIXED;
  let exporter: Uint8Array | undefined;
  if ((flags & FLAG_EXPORTER) !== 0) {
    if (o + KEY_BYTES + 4 > b.length) throw bad("truncated exporter");
    exporter = b.slice(o, o + KEY_BYTES);
    o += KEY_BYTES;
  }
  const count = v.getUint32(o);
  o += 4;
  const chains: ChainState[] = [];
  const leaves = new Set<number>();
  for (let i = 0; i < count; i++) {
    if (o + 16 + KEY_BYTES > b.length) throw bad("truncated chain");
    const leaf = v.getUint32(o);
    const gen = v.getBigUint64(o + 4);
    if (gen > BigInt(MAX_GENERATION) + 1n) throw bad("generation out of range");
    const generation = Number(gen);
    const chainKey = b.slice(o + 12, o + 12 + KEY_BYTES);
    const n = v.getUint32(o + 12 + KEY_BYTES);
    o += 16 + KEY_BYTES;
    if (n > (b.length - o) / (4 + KEY_BYTES)) throw bad("truncated skipped keys");
    const skipped: Array<[number, Uint8Array]> = [];
    for (let j = 0; j < n; j++) {
      const g = v.getUint32(o);
      if (
        g >= generation ||
        (skipped.length > 0 && g <= (skipped[skipped.length - 1] as [number, Uint8Array])[0])
      ) {
        throw bad("skipped generations must ascend below the chain position");
      }
      skipped.push([g, b.slice(o + 4, o + 4 + KEY_BYTES)]);
      o += 4 + KEY_BYTES;
    }
    if (leaves.has(leaf)) throw bad(`leaf ${leaf} twice`);
    leaves.add(leaf);
    chains.push({ leaf, generation, chainKey, skipped });
  }
  if (o !== b.length) throw bad(`${b.length - o} trailing bytes`);
  if (!isU32(ownLeaf)) throw bad("own leaf");
  if ((flags & FLAG_CLOSED) === 0 && exporter === undefined)
    throw bad("lazy keys without an exporter");
  return {
    roomId,
    epoch,
    ownLeaf,
    maxSkip,
    maxAheadGenerations,
    closedSet: (flags & FLAG_CLOSED) !== 0,
    exporter,
    chains,
  };
}
