/**
 * Message envelopes: what the sender-key bridge seals (docs/client.md "Envelope").
 *
 * @example
 * const env = createEnvelope({ t: "text", body: "hi" }, { clock, rng });
 * const { generation, ciphertext } = keys.seal(encodeEnvelope(env));
 * const back = decodeEnvelope(other.open(leaf, generation, ciphertext));
 */
export type { SealedAttachment } from "./attachment.js";
export { contentHash, openAttachment, sealAttachment } from "./attachment.js";
export { decodeEnvelope, encodeEnvelope } from "./codec.js";
export { createEnvelope } from "./create.js";
export { EnvelopeError, EnvelopeErrorCode } from "./errors.js";
export { bucketFor, MAX_PADDED_BYTES } from "./padding.js";
export type { AttachmentThumb, EnvelopeContent, EnvelopeType, MessageEnvelope } from "./types.js";
export {
  CONTENT_KEY_BYTES,
  HASH_BYTES,
  ID_BYTES,
  MAX_BODY_BYTES,
  MAX_EMOJI_BYTES,
  MAX_MIME_BYTES,
  MAX_NAME_BYTES,
} from "./types.js";
