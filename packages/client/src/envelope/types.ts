/**
 * What an application message carries (docs/client.md "Envelope"). The wire form is a
 * CBOR map with exactly these text keys; `target` names the `log_index` of the message
 * an edit, reply or reaction refers to.
 */
export type EnvelopeContent =
  | { readonly t: "text"; readonly body: string }
  | { readonly t: "edit"; readonly target: bigint; readonly body: string }
  | { readonly t: "reply"; readonly target: bigint; readonly body: string }
  | { readonly t: "reaction"; readonly target: bigint; readonly emoji: string }
  | {
      readonly t: "attachment";
      /** BLAKE3-256 of the stored blob (the hub's `cas` address); see attachment.ts. */
      readonly hash: Uint8Array;
      /** Size in bytes of the original content. */
      readonly size: number;
      readonly mime: string;
      readonly name?: string;
      /** XChaCha20-Poly1305 key of the encrypted blob; absent for public blobs. */
      readonly key?: Uint8Array;
      /** A small preview (an image's thumbnail), itself a separate sealed blob. */
      readonly thumb?: AttachmentThumb;
    };

/** A thumbnail: a second, small attachment of its own, with its own key. */
export interface AttachmentThumb {
  readonly hash: Uint8Array;
  readonly size: number;
  readonly mime: string;
  readonly key: Uint8Array;
}

export type EnvelopeType = EnvelopeContent["t"];

/** Every envelope also carries a random id and the sender's clock at sending time. */
export type MessageEnvelope = EnvelopeContent & {
  /** 16 random bytes, unique per message (dedupe across retries). */
  readonly id: Uint8Array;
  /** Milliseconds since the Unix epoch, from the sender's injected Clock. */
  readonly sent_at: bigint;
};

export const ID_BYTES = 16;
export const HASH_BYTES = 32;
export const CONTENT_KEY_BYTES = 32;
export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_EMOJI_BYTES = 64;
export const MAX_MIME_BYTES = 255;
export const MAX_NAME_BYTES = 255;
