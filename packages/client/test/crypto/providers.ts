/** Both providers side by side for the differential tests. */

import type { Rng } from "@kalandra/proto";
import {
  type CiphersuiteImpl,
  type CiphersuiteName,
  defaultCryptoProvider,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from "ts-mls";
import { makeKalandraCiphersuiteImpl } from "../../src/crypto/index.js";

export const SUITES: readonly CiphersuiteName[] = [
  "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
  "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
  "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
];

export async function bothImpls(
  suite: CiphersuiteName,
  rng?: Rng,
): Promise<{ ours: CiphersuiteImpl; theirs: CiphersuiteImpl }> {
  const cs = getCiphersuiteFromName(suite);
  return {
    ours: makeKalandraCiphersuiteImpl(cs, rng ? { rng } : {}),
    theirs: await getCiphersuiteImpl(cs, defaultCryptoProvider),
  };
}

/** fast-check seed: FC_SEED to replay, otherwise fresh; printed so a failure can be replayed. */
export function fcSeed(label: string): number {
  const fromEnv = process.env.FC_SEED;
  const seed = fromEnv !== undefined ? Number(fromEnv) : (Date.now() ^ (process.pid << 8)) | 0;
  console.log(`[${label}] fast-check seed ${seed} (replay with FC_SEED=${seed})`);
  return seed;
}
