/**
 * What a client checks of every new leaf it accepts (DESIGN §10, docs/identity.md): the
 * credential is a BasicCredential carrying the UTF-8 user id, and the leaf's signature key
 * is the device's frame key, so its sender_id derives from it. The hub enforces the
 * binding to an authenticated owner; a client checks what it can see without the registry,
 * so a hub that hands out a ghost key package or relays a joiner under another device's
 * sender_id is caught.
 */
import { deriveSenderId } from "@kalandra/proto";
import type { KeyPackage, LeafNode } from "ts-mls";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The user a leaf's credential names, or undefined when it is not a UTF-8 BasicCredential. */
export function credentialUser(leaf: LeafNode): string | undefined {
  if (leaf.credential.credentialType !== "basic") return undefined;
  try {
    return utf8.decode(leaf.credential.identity);
  } catch {
    return undefined;
  }
}

/** The sender_id a leaf's signature key derives to, or undefined for a key of the wrong size. */
export function leafSenderId(leaf: LeafNode): bigint | undefined {
  const key = leaf.signaturePublicKey;
  return key.length === 32 ? deriveSenderId(key) : undefined;
}

/** True when a claimed key package is a device of `userId` with this `senderId`. */
export function claimMatches(kp: KeyPackage, userId: string, senderId: bigint): boolean {
  return credentialUser(kp.leafNode) === userId && leafSenderId(kp.leafNode) === senderId;
}
