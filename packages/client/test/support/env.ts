/** Deterministic test environment: seeded RNG, virtual time, the cipher suite. */
import { ManualTime, seededRng } from "@kalandra/test-support";
import type { CiphersuiteImpl } from "ts-mls";
import { getKalandraCiphersuiteImpl } from "../../src/crypto/index.js";

export { ManualTime, seededRng };

/**
 * A clock the test sets. It starts at the wall time because ts-mls checks key package
 * lifetimes against `Date.now()` when a member commits an Add (RFC 9420 §10.1): key
 * packages stamped from a fixed date would expire under the tests one day.
 */
export function wallStartedClock(): ManualTime {
  return new ManualTime(BigInt(Date.now()));
}

/** Suite 1 (docs/contracts.md) on the fast node:crypto provider, drawing from a seeded Rng. */
export async function suite(seed = "suite"): Promise<CiphersuiteImpl> {
  return getKalandraCiphersuiteImpl(seededRng(seed));
}
