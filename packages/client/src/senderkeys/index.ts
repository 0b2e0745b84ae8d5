/**
 * The sender-key bridge (DESIGN §7, docs/client.md "Sender keys").
 *
 * @example
 * const keys = new EpochSenderKeys({ roomId, epoch, exporterSecret, ownLeaf: 0, senders: [0, 1] });
 * const { generation, ciphertext } = keys.seal(plaintext);
 * const back = otherMembersKeys.open(0, generation, ciphertext);
 */

export type { WindowOptions } from "./chain.js";
export { DEFAULT_MAX_SKIP } from "./chain.js";
export type { ChainSnapshot, EpochSenderKeysInit, SealedMessage } from "./epochSenderKeys.js";
export { EpochSenderKeys } from "./epochSenderKeys.js";
export { SenderKeyError, SenderKeyErrorCode } from "./errors.js";
export type { BufferPushResult, PendingEpochBufferOptions } from "./pendingEpochBuffer.js";
export { PendingEpochBuffer } from "./pendingEpochBuffer.js";
export { AD_LABEL, associatedData, initialChainKey, SENDER_INFO_LABEL } from "./ratchet.js";
