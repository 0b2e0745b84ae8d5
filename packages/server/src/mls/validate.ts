/**
 * Checks on leaf nodes and key packages that need no group secret (RFC 9420 §7.3, §10.1),
 * with node:crypto Ed25519. Each throws a Reject with the code the caller chose.
 */
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { extensionsSupportedByCapabilities } from "ts-mls/extension.js";
import type { GroupContext } from "ts-mls/groupContext.js";
import { type KeyPackage, keyPackageTBSEncoder } from "ts-mls/keyPackage.js";
import { type LeafNode, type LeafNodeTBS, leafNodeTBSEncoder } from "ts-mls/leafNode.js";
import { decodeRequiredCapabilities } from "ts-mls/requiredCapabilities.js";
import { bytesEqual, verifyWithLabel } from "./crypto.js";
import { type MlsViewErrorCode, reject } from "./errors.js";

const encodeLeafNodeTBS = encode(leafNodeTBSEncoder);
const encodeKeyPackageTBS = encode(keyPackageTBSEncoder);
const utf8 = new TextDecoder("utf-8", { fatal: true });

export const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

/** The user id of a leaf: its BasicCredential identity as UTF-8 (docs/contracts.md, Identity). */
export function userIdOf(leaf: LeafNode): string {
  if (leaf.credential.credentialType !== "basic") return "";
  try {
    return utf8.decode(leaf.credential.identity);
  } catch {
    return "";
  }
}

/**
 * A leaf node's own consistency: Ed25519 key of 32 bytes (it doubles as the device's frame
 * key), a BasicCredential with a UTF-8 user id, extensions listed in its capabilities, and a
 * valid LeafNodeTBS signature. `groupId`/`leafIndex` are bound for update and commit sources.
 * Like ts-mls's receivers (clientState.js validateLeafNodeCommon, validateProposals), the leaf
 * must support the basic credential every member uses, the group's extensions and any
 * required_capabilities: a leaf the hub accepts and the members refuse would fork the room.
 */
export function checkLeafNode(
  leaf: LeafNode,
  context: GroupContext,
  leafIndex: number,
  expectedSource: LeafNode["leafNodeSource"],
  code: MlsViewErrorCode,
): void {
  if (leaf.leafNodeSource !== expectedSource)
    reject(code, `leaf node source must be ${expectedSource}`);
  if (leaf.signaturePublicKey.length !== 32)
    reject(code, "leaf signature key is not an Ed25519 key");
  if (leaf.credential.credentialType !== "basic" || userIdOf(leaf) === "")
    reject(code, "leaf credential must be a BasicCredential with a UTF-8 user id");
  if (!extensionsSupportedByCapabilities(leaf.extensions, leaf.capabilities))
    reject(code, "leaf node carries an extension not listed in its capabilities");
  if (!leaf.capabilities.credentials.includes("basic"))
    reject(code, "leaf node does not support the basic credential");
  if (!extensionsSupportedByCapabilities(context.extensions, leaf.capabilities))
    reject(code, "leaf node does not support the group's extensions");
  checkRequiredCapabilities(leaf, context, code);
  const tbs =
    leaf.leafNodeSource === "key_package"
      ? encodeLeafNodeTBS(leaf)
      : encodeLeafNodeTBS({ ...leaf, groupId: context.groupId, leafIndex } as LeafNodeTBS);
  if (!verifyWithLabel(leaf.signaturePublicKey, "LeafNodeTBS", tbs, leaf.signature))
    reject(code, "leaf node signature is invalid");
}

function checkRequiredCapabilities(
  leaf: LeafNode,
  context: GroupContext,
  code: MlsViewErrorCode,
): void {
  const ext = context.extensions.find((e) => e.extensionType === "required_capabilities");
  if (ext === undefined) return;
  let req: ReturnType<typeof decodeRequiredCapabilities>;
  try {
    req = decodeRequiredCapabilities(ext.extensionData, 0);
  } catch {
    req = undefined;
  }
  if (req === undefined) reject(code, "required_capabilities does not decode");
  const caps = leaf.capabilities;
  const r = req[0];
  if (
    !r.credentialTypes.every((c) => caps.credentials.includes(c)) ||
    !r.extensionTypes.every((e) => caps.extensions.includes(e)) ||
    !r.proposalTypes.every((p) => caps.proposals.includes(p))
  )
    reject(code, "leaf node lacks the group's required capabilities");
}

/** KeyPackage validation of RFC 9420 §10.1 (lifetime is the client's concern, not the hub's). */
export function checkKeyPackage(
  kp: KeyPackage,
  context: GroupContext,
  code: MlsViewErrorCode,
): void {
  if (kp.version !== "mls10") reject(code, "key package is not MLS 1.0");
  if (kp.cipherSuite !== SUITE) reject(code, "key package uses another cipher suite");
  checkLeafNode(kp.leafNode, context, 0, "key_package", code);
  if (bytesEqual(kp.initKey, kp.leafNode.hpkePublicKey))
    reject(code, "init key equals the encryption key");
  if (
    !verifyWithLabel(
      kp.leafNode.signaturePublicKey,
      "KeyPackageTBS",
      encodeKeyPackageTBS(kp),
      kp.signature,
    )
  )
    reject(code, "key package signature is invalid");
}
