/**
 * What a device presents in HELLO to prove its user (DESIGN §10, docs/identity.md):
 * `{method, credential}` — an enrollment code (`"enrollment"`, the code's UTF-8), a device
 * link (`"device_link"`, its CBOR), an OpenID Connect token (`"oidc"`, its UTF-8).
 * A device the hub has bound already needs nothing: its key is its credential.
 */
export interface HelloAuth {
  method: string;
  credential: Uint8Array;
}

/** Asked before each HELLO; undefined = present nothing (a bound device, or dev mode). */
export type HelloAuthProvider = () => HelloAuth | undefined;
