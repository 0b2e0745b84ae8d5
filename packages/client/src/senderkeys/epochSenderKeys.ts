/**
 * The sender-key bridge for one epoch of one room (DESIGN §7): every member's sending
 * chain derived from the epoch's MLS exporter secret, `seal` on the own chain and `open`
 * on the others'. Keys from the exporter do not prove who sent a message (any member
 * can derive every chain); authenticity comes from the frame signature, which the
 * caller verifies against the sender's leaf signature key before calling `open`.
 *
 * Forward secrecy: when `senders` is given, every chain is derived at construction and
 * the exporter secret is wiped at once, so after a message key is used nothing left in
 * memory can re-derive it. Without `senders` the exporter secret is kept (copied) until
 * `destroy()` so chains can be derived on first use; pass `senders` where you can.
 */
import { type ResolvedWindow, resolveWindow, SenderChain, type WindowOptions } from "./chain.js";
import { SenderKeyError } from "./errors.js";
import {
  associatedData,
  chainKeyFromPrk,
  initialChainKey,
  isU32,
  KEY_BYTES,
  MAX_EPOCH,
  MAX_ROOM_ID,
  messageNonce,
  sealWith,
  senderPrk,
} from "./ratchet.js";
import { decodeKeysState, encodeKeysState } from "./state.js";

export interface EpochSenderKeysInit {
  /** u128 room id (frame header `room_id`). */
  readonly roomId: bigint;
  /** The MLS epoch these keys belong to. */
  readonly epoch: bigint;
  /**
   * 32 bytes: `mlsExporter(state, "kalandra", context, 32)` for this epoch. Copied; the
   * caller wipes its own buffer.
   */
  readonly exporterSecret: Uint8Array;
  /** This device's leaf index in the epoch's ratchet tree. */
  readonly ownLeaf: number;
  /**
   * Leaf indices of every member of the epoch (the own leaf included or not). When given,
   * chains are derived eagerly, the exporter secret is wiped, and other leaves are
   * `UNKNOWN_SENDER`.
   */
  readonly senders?: Iterable<number>;
  readonly window?: WindowOptions;
}

export interface SealedMessage {
  readonly generation: number;
  readonly ciphertext: Uint8Array;
}

/** A chain's public position and a copy of its current key (for notification export). */
export interface ChainSnapshot {
  readonly leaf: number;
  readonly generation: number;
  readonly chainKey: Uint8Array;
}

export class EpochSenderKeys {
  readonly roomId: bigint;
  readonly epoch: bigint;
  readonly ownLeaf: number;
  private exporter: Uint8Array | undefined;
  private readonly chains = new Map<number, SenderChain>();
  private readonly window: ResolvedWindow;
  private closedSet: boolean;
  private destroyed = false;

  constructor(init: EpochSenderKeysInit) {
    if (typeof init.roomId !== "bigint" || init.roomId < 0n || init.roomId > MAX_ROOM_ID) {
      throw new RangeError(`"roomId" expected u128 bigint`);
    }
    if (typeof init.epoch !== "bigint" || init.epoch < 0n || init.epoch > MAX_EPOCH) {
      throw new RangeError(`"epoch" expected u64 bigint`);
    }
    if (!isU32(init.ownLeaf)) throw new RangeError(`"ownLeaf" expected u32`);
    if (!(init.exporterSecret instanceof Uint8Array) || init.exporterSecret.length !== KEY_BYTES) {
      throw new RangeError(`"exporterSecret" expected Uint8Array of length ${KEY_BYTES}`);
    }
    this.roomId = init.roomId;
    this.epoch = init.epoch;
    this.ownLeaf = init.ownLeaf;
    this.window = resolveWindow(init.window);
    if (init.senders !== undefined) {
      const leaves = new Set<number>(init.senders);
      leaves.add(init.ownLeaf);
      for (const leaf of leaves) {
        if (!isU32(leaf)) throw new RangeError(`"senders" expected u32 leaf indices`);
      }
      const prk = senderPrk(init.exporterSecret);
      for (const leaf of [...leaves].sort((a, b) => a - b)) {
        this.chains.set(leaf, new SenderChain(chainKeyFromPrk(prk, leaf), 0, this.window));
      }
      prk.fill(0);
      this.closedSet = true;
    } else {
      this.exporter = init.exporterSecret.slice();
      this.closedSet = false;
    }
  }

  /** Seals one application message on the own chain; its key is erased immediately. */
  seal(plaintext: Uint8Array): SealedMessage {
    this.assertLive();
    const chain = this.chainFor(this.ownLeaf);
    const next = chain?.nextSendKey();
    if (next === undefined) {
      throw new SenderKeyError("EXHAUSTED", "own sending chain exhausted; commit a new epoch");
    }
    const ad = associatedData(this.roomId, this.epoch, this.ownLeaf, next.generation);
    const nonce = messageNonce(this.epoch, this.ownLeaf, next.generation);
    const ciphertext = sealWith(next.key, nonce, ad, plaintext);
    next.key.fill(0);
    return { generation: next.generation, ciphertext };
  }

  /**
   * Opens a message from `senderLeaf`. Pass `epoch` (the frame header's) to have a
   * mismatch reported as `WRONG_EPOCH` rather than `DECRYPT_FAILED`.
   * @throws SenderKeyError REPLAY | TOO_FAR_AHEAD | DECRYPT_FAILED | WRONG_EPOCH | UNKNOWN_SENDER
   */
  open(senderLeaf: number, generation: number, ciphertext: Uint8Array, epoch?: bigint): Uint8Array {
    this.assertLive();
    if (epoch !== undefined && epoch !== this.epoch) {
      throw new SenderKeyError("WRONG_EPOCH", `message epoch ${epoch}, keys for ${this.epoch}`);
    }
    if (!isU32(senderLeaf)) throw new SenderKeyError("UNKNOWN_SENDER", `leaf ${senderLeaf}`);
    if (!Number.isInteger(generation) || generation < 0) {
      throw new SenderKeyError("DECRYPT_FAILED", `invalid generation ${generation}`);
    }
    if (generation > 0xffff_ffff) {
      throw new SenderKeyError("TOO_FAR_AHEAD", `generation ${generation} exceeds u32`);
    }
    if (!(ciphertext instanceof Uint8Array)) {
      throw new SenderKeyError("DECRYPT_FAILED", "ciphertext is not bytes");
    }
    const chain = this.chainFor(senderLeaf);
    if (chain === undefined) {
      throw new SenderKeyError(
        "UNKNOWN_SENDER",
        `leaf ${senderLeaf} is not in epoch ${this.epoch}`,
      );
    }
    if (senderLeaf === this.ownLeaf) {
      // The own chain is the sending chain: its keys are erased at seal time, and the
      // sender keeps its own plaintext (echoes are matched by request_id, not opened).
      if (generation < chain.generation) {
        throw new SenderKeyError("REPLAY", `own generation ${generation} already sent`);
      }
      throw new SenderKeyError("DECRYPT_FAILED", `own leaf never sent generation ${generation}`);
    }
    const ad = associatedData(this.roomId, this.epoch, senderLeaf, generation);
    const nonce = messageNonce(this.epoch, senderLeaf, generation);
    const r = chain.open(generation, nonce, ad, ciphertext);
    switch (r.kind) {
      case "ok":
        return r.plaintext;
      case "replay":
        throw new SenderKeyError("REPLAY", `leaf ${senderLeaf} generation ${generation}`);
      case "tooFarAhead":
        throw new SenderKeyError(
          "TOO_FAR_AHEAD",
          `leaf ${senderLeaf} generation ${generation}, expected at most ${chain.generation + this.window.maxAheadGenerations}`,
        );
      case "decryptFailed":
        throw new SenderKeyError("DECRYPT_FAILED", `leaf ${senderLeaf} generation ${generation}`);
    }
  }

  /** The next generation the own chain will seal. */
  get sendGeneration(): number {
    return this.chainFor(this.ownLeaf)?.generation ?? 0;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /**
   * Current chain keys and generations (copies) for notification export. The own leaf is
   * left out unless `includeOwn`; in lazy mode, `leaves` names chains to derive.
   */
  snapshot(opts: { includeOwn?: boolean; leaves?: Iterable<number> } = {}): ChainSnapshot[] {
    this.assertLive();
    if (opts.leaves !== undefined) for (const leaf of opts.leaves) this.chainFor(leaf);
    if (opts.includeOwn === true) this.chainFor(this.ownLeaf);
    const out: ChainSnapshot[] = [];
    for (const [leaf, chain] of [...this.chains].sort((a, b) => a[0] - b[0])) {
      if (leaf === this.ownLeaf && opts.includeOwn !== true) continue;
      out.push({ leaf, generation: chain.generation, chainKey: chain.chainKeyCopy() });
    }
    return out;
  }

  /**
   * The chains' positions, chain keys and skipped keys, for the client's secret store:
   * restore with `fromState` after a restart so no generation is sealed or opened twice.
   */
  exportState(): Uint8Array {
    this.assertLive();
    const chains = [...this.chains].map(([leaf, c]) => ({
      leaf,
      generation: c.generation,
      chainKey: c.chainKeyCopy(),
      skipped: c.skippedCopies(),
    }));
    const out = encodeKeysState({
      roomId: this.roomId,
      epoch: this.epoch,
      ownLeaf: this.ownLeaf,
      maxSkip: this.window.maxSkip,
      maxAheadGenerations: this.window.maxAheadGenerations,
      closedSet: this.closedSet,
      exporter: this.exporter,
      chains,
    });
    for (const c of chains) {
      c.chainKey.fill(0);
      for (const [, k] of c.skipped) k.fill(0);
    }
    return out;
  }

  /** Rebuilds keys saved by `exportState`. @throws SenderKeyError BAD_STATE */
  static fromState(state: Uint8Array): EpochSenderKeys {
    const s = decodeKeysState(state);
    let window: ResolvedWindow;
    try {
      window = resolveWindow({ maxSkip: s.maxSkip, maxAheadGenerations: s.maxAheadGenerations });
    } catch (e) {
      throw new SenderKeyError("BAD_STATE", e instanceof Error ? e.message : String(e));
    }
    const keys = new EpochSenderKeys({
      roomId: s.roomId,
      epoch: s.epoch,
      exporterSecret: s.exporter ?? new Uint8Array(KEY_BYTES),
      ownLeaf: s.ownLeaf,
      window,
    });
    keys.exporter?.fill(0);
    keys.exporter = s.exporter;
    keys.closedSet = s.closedSet;
    for (const c of s.chains) {
      keys.chains.set(c.leaf, SenderChain.restore(c.chainKey, c.generation, window, c.skipped));
    }
    if (s.closedSet && !keys.chains.has(s.ownLeaf))
      throw new SenderKeyError("BAD_STATE", "own chain missing");
    return keys;
  }

  /** Erases every key of the epoch; call when the epoch is left. Idempotent. */
  destroy(): void {
    for (const c of this.chains.values()) c.destroy();
    this.chains.clear();
    this.exporter?.fill(0);
    this.exporter = undefined;
    this.destroyed = true;
  }

  /** @internal test hook: live references to every secret array held. */
  secretsForTest(): { exporter: Uint8Array | undefined; chains: Map<number, SenderChain> } {
    return { exporter: this.exporter, chains: this.chains };
  }

  private chainFor(leaf: number): SenderChain | undefined {
    const existing = this.chains.get(leaf);
    if (existing !== undefined || this.closedSet || this.exporter === undefined) return existing;
    if (!isU32(leaf)) return undefined;
    const chain = this.newChain(this.exporter, leaf);
    this.chains.set(leaf, chain);
    return chain;
  }

  private newChain(exporter: Uint8Array, leaf: number): SenderChain {
    return new SenderChain(initialChainKey(exporter, leaf), 0, this.window);
  }

  private assertLive(): void {
    if (this.destroyed) {
      throw new SenderKeyError("WRONG_EPOCH", `keys of epoch ${this.epoch} were destroyed`);
    }
  }
}
