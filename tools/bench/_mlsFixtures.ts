/**
 * What the MLS benches share: cipher suite 1 and fixed capabilities (ts-mls's
 * `defaultCapabilities()` draws GREASE values with Math.random, so key packages would
 * differ run to run), and the shape of a generated member.
 */
import type { KeyPackage, PrivateKeyPackage } from "ts-mls";

export const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" as const;

export const capabilities = {
  versions: ["mls10" as const],
  ciphersuites: [SUITE],
  extensions: [],
  proposals: [],
  credentials: ["basic" as const],
};

export interface Member {
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
}
