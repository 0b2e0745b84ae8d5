/**
 * The one place where storage configures cbor-x (CONVENTIONS §3): plain interoperable CBOR
 * (no record extension, maps as objects) and every 64-bit integer decoded as a `bigint`, so
 * a `bigint` written comes back as a `bigint`. Decoded byte strings are views the decoder
 * owns: copy them when you keep them.
 */
import { Encoder } from "cbor-x";

// `int64AsType` is honoured by cbor-x 1.6.8 but missing from its typings.
const options = {
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: "bigint",
  tagUint8Array: false,
};
const cbor = new Encoder(options);

export function encodeCbor(value: unknown): Uint8Array {
  return cbor.encode(value);
}

export function decodeCbor(bytes: Uint8Array): unknown {
  return cbor.decode(bytes);
}
