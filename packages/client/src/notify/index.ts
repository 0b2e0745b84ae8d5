/**
 * `@kalandra/client/notify`: decrypt pushed messages in a small process with only the
 * blob `exportNotificationKeys` wrote (docs/client.md "Notifications"). This entry point
 * must not reach ts-mls or MLS tree code (test/notify/moduleGraph.test.ts).
 *
 * @example
 * const dec = NotificationDecryptor.fromBlob(blob);
 * const env = dec.decrypt({ roomId, epoch, senderLeaf, generation, ciphertext });
 * if (env.t === "text") show(env.body);
 */
export type { MessageEnvelope } from "../envelope/types.js";
export type { BlobEntry, BlobGroup } from "./blob.js";
export { decodeBlob } from "./blob.js";
export type { NotificationDecryptorOptions, PushedMessage } from "./decryptor.js";
export { NotificationDecryptor } from "./decryptor.js";
export { NotifyError, NotifyErrorCode } from "./errors.js";
