/**
 * Decrypts pushed application messages with only a notification key blob (DESIGN §7).
 * Imports the ratchet math and the envelope codec — never ts-mls or tree code — so it
 * fits a small push-extension process (test/notify checks the module graph and heap).
 *
 * Stateless per message: the chain is advanced from the exported position in a scratch
 * copy for each decryption, so pushes may arrive in any order and the blob never
 * changes. It does not detect replays; the full client does.
 */
import { decodeEnvelope } from "../envelope/codec.js";
import { EnvelopeError } from "../envelope/errors.js";
import type { MessageEnvelope } from "../envelope/types.js";
import {
  advance,
  associatedData,
  isU32,
  messageKey,
  messageNonce,
  openWith,
} from "../senderkeys/ratchet.js";
import { type BlobEntry, decodeBlob } from "./blob.js";
import { NotifyError } from "./errors.js";

export interface PushedMessage {
  readonly roomId: bigint;
  readonly epoch: bigint;
  readonly senderLeaf: number;
  readonly generation: number;
  readonly ciphertext: Uint8Array;
}

export interface NotificationDecryptorOptions {
  /** Most generations past the exported position a message may be. Default 1000. */
  readonly maxAheadGenerations?: number;
}

export class NotificationDecryptor {
  private readonly chains: Map<string, Map<number, BlobEntry>>;
  private readonly maxAhead: number;

  private constructor(chains: Map<string, Map<number, BlobEntry>>, maxAhead: number) {
    this.chains = chains;
    this.maxAhead = maxAhead;
  }

  /** @throws NotifyError MALFORMED_BLOB */
  static fromBlob(
    blob: Uint8Array,
    opts: NotificationDecryptorOptions = {},
  ): NotificationDecryptor {
    const chains = new Map<string, Map<number, BlobEntry>>();
    for (const g of decodeBlob(blob)) {
      const id = `${g.roomId}:${g.epoch}`;
      if (chains.has(id)) throw new NotifyError("MALFORMED_BLOB", `duplicate group ${id}`);
      chains.set(id, new Map(g.entries.map((e) => [e.leaf, e])));
    }
    const maxAhead = opts.maxAheadGenerations ?? 1000;
    if (!Number.isInteger(maxAhead) || maxAhead < 0)
      throw new RangeError(`"maxAheadGenerations" invalid`);
    return new NotificationDecryptor(chains, maxAhead);
  }

  /** Opens and decodes one pushed message. @throws NotifyError */
  decrypt(msg: PushedMessage): MessageEnvelope {
    const { roomId, epoch, senderLeaf, generation, ciphertext } = msg;
    if (
      typeof roomId !== "bigint" ||
      typeof epoch !== "bigint" ||
      !(ciphertext instanceof Uint8Array)
    ) {
      throw new NotifyError("BAD_REQUEST", "roomId/epoch must be bigint, ciphertext bytes");
    }
    if (!isU32(senderLeaf) || !isU32(generation)) {
      throw new NotifyError("BAD_REQUEST", "senderLeaf and generation must be u32");
    }
    const group = this.chains.get(`${roomId}:${epoch}`);
    if (group === undefined)
      throw new NotifyError("UNKNOWN_EPOCH", `no keys for room ${roomId} epoch ${epoch}`);
    const entry = group.get(senderLeaf);
    if (entry === undefined)
      throw new NotifyError("UNKNOWN_SENDER", `no chain for leaf ${senderLeaf}`);
    if (generation < entry.generation) {
      throw new NotifyError(
        "KEY_UNAVAILABLE",
        `generation ${generation} precedes export (${entry.generation})`,
      );
    }
    if (generation - entry.generation > this.maxAhead) {
      throw new NotifyError(
        "TOO_FAR_AHEAD",
        `generation ${generation}, exported at ${entry.generation}`,
      );
    }
    const ck = advance(entry.chainKey, generation - entry.generation);
    const mk = messageKey(ck);
    ck.fill(0);
    const ad = associatedData(roomId, epoch, senderLeaf, generation);
    const plaintext = openWith(mk, messageNonce(epoch, senderLeaf, generation), ad, ciphertext);
    mk.fill(0);
    if (plaintext === undefined)
      throw new NotifyError("DECRYPT_FAILED", `leaf ${senderLeaf} generation ${generation}`);
    try {
      return decodeEnvelope(plaintext);
    } catch (e) {
      if (e instanceof EnvelopeError)
        throw new NotifyError("BAD_ENVELOPE", e.message, { cause: e });
      throw e;
    } finally {
      plaintext.fill(0);
    }
  }

  /** Wipes every chain key held. */
  destroy(): void {
    for (const g of this.chains.values()) for (const e of g.values()) e.chainKey.fill(0);
    this.chains.clear();
  }
}
