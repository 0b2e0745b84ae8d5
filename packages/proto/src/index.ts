/**
 * @kalandra/proto — the Kalandra wire protocol (DESIGN §3, docs/protocol.md): the signed
 * 128-byte frame header, opcodes and flags, strict CBOR payload schemas, Ed25519 frame
 * signatures, a streaming decoder, error codes, identity and runtime interfaces.
 *
 * @example
 * import { Frame, Opcode, decodePayload, encodeFrame, encodePayload, generateDeviceKey,
 *   systemRng, verifyFrame } from "@kalandra/proto";
 * const me = generateDeviceKey(systemRng);
 * const wire = encodeFrame({ opcode: Opcode.PING, requestId: 1, roomId: 0n,
 *   senderId: me.senderId, epoch: 0n, payload: encodePayload(Opcode.PING, { nonce: 1 }) }, me.signer);
 * const frame = Frame.fromWire(wire);
 * verifyFrame(frame, me.publicKey); // true
 * decodePayload(Opcode.PING, frame.payload); // { nonce: 1 }
 */

export { bytesEqual, concatBytes, toHex } from "./bytes.js";
export { canary, setCanaries } from "./canary.js";
export { cborDecode, cborEncode } from "./cbor.js";
export { checkStrictCbor, MAX_DEPTH as CBOR_MAX_DEPTH } from "./cborCheck.js";
export * from "./constants.js";
export * from "./errors.js";
export { type DecodeOptions, encodeFrame, Frame, type FrameInput } from "./frame.js";
export {
  FrameHeader,
  type HeaderFields,
  stampSequence,
  validateHeader,
  writeHeader,
} from "./header.js";
export * from "./identity.js";
export * from "./node/system.js";
export * from "./opcodes.js";
export {
  decodeErrorPayload,
  decodePayload,
  encodeErrorPayload,
  encodePayload,
  errorFromPayload,
} from "./payloads/codec.js";
export type { Codec, CodecSpec, Shape } from "./payloads/schema.js";
/** The strict schema language of the payloads, for other CBOR structures (e.g. `schema.struct({...})`). */
export * as schema from "./payloads/schema.js";
export * from "./payloads/schemas.js";
export * from "./runtime.js";
export {
  assertFrameSignature,
  createDeviceSigner,
  type DeviceKey,
  type DeviceSigner,
  generateDeviceKey,
  SCRATCH_RETAIN,
  signedView,
  signFrame,
  verifyFrame,
} from "./signing.js";
export { StreamDecoder } from "./streamDecoder.js";
