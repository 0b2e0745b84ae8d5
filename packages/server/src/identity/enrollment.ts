/**
 * Enrollment (DESIGN §10): an operator registers a user (`kalandrad admin user add alice`)
 * and hands over the one-time code printed; the user's first device presents it in HELLO
 * (`auth: {method: "enrollment", credential: UTF-8 code}`) and is bound to `alice@domain`.
 * Codes are 128 random bits, kept only as SHA-256 (a stolen database holds no usable
 * code), good once and until `auth.enrollment_code_ttl_s` has passed.
 */
import { createHash } from "node:crypto";
import type { Clock, Rng } from "@kalandra/proto";
import type { IdentityStorage } from "../storage/types.js";
import type { Authenticator, AuthRequest, AuthVerdict } from "./authenticator.js";
import { qualifiedUserId, userIdProblem } from "./userId.js";

/** Crockford base32: no I, L, O, U, so a code read aloud or typed survives. */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** Longest credential looked at (a code is 31 characters). */
const MAX_CODE_BYTES = 64;

function codeHash(code: string): Uint8Array {
  // Case and dashes do not matter to a human typing the code.
  const canonical = code.toUpperCase().replaceAll("-", "");
  return new Uint8Array(createHash("sha256").update(canonical, "utf8").digest());
}

/** 130 bits as 26 base32 characters in groups of five, e.g. `7KQ2M-...`. */
function newCode(rng: Rng): string {
  const bytes = rng.bytes(17);
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = "";
  for (let i = 0; i < 26; i++) {
    out += ALPHABET[Number(bits & 31n)];
    bits >>= 5n;
  }
  bytes.fill(0);
  return (out.match(/.{1,5}/g) ?? []).join("-");
}

export interface EnrollmentOptions {
  storage: IdentityStorage;
  clock: Clock;
  rng: Rng;
  /** `server.domain`: enrolled users are `name@domain`. */
  domain: string;
  /** `auth.enrollment_code_ttl_s`. */
  codeTtlSeconds: number;
}

export interface IssuedCode {
  userId: string;
  code: string;
  /** Seconds since the Unix epoch. */
  expiresAt: bigint;
}

/** Registers users and issues their codes (the admin API and CLI). */
export class Enrollment {
  constructor(private readonly o: EnrollmentOptions) {}

  /** Registers `name@domain` (if new) and issues a fresh one-time code for it. */
  async issue(
    name: string,
  ): Promise<{ ok: true; issued: IssuedCode } | { ok: false; problem: string }> {
    const userId = qualifiedUserId(name, this.o.domain);
    const problem = userIdProblem(userId);
    if (problem !== undefined || (name.includes("@") && !name.endsWith(`@${this.o.domain}`))) {
      return { ok: false, problem: problem ?? `users of this hub are name@${this.o.domain}` };
    }
    const now = this.o.clock.now() / 1000n;
    const code = newCode(this.o.rng);
    const expiresAt = now + BigInt(this.o.codeTtlSeconds);
    await this.o.storage.putUser(userId, now);
    await this.o.storage.putEnrollmentCode({ codeHash: codeHash(code), userId, expiresAt });
    return { ok: true, issued: { userId, code, expiresAt } };
  }
}

/** The "enrollment" method: a one-time code names the user. */
export function enrollmentAuthenticator(storage: IdentityStorage): Authenticator {
  const utf8 = new TextDecoder("utf-8", { fatal: false });
  return {
    method: "enrollment",
    async authenticate(req: AuthRequest): Promise<AuthVerdict> {
      const bytes = req.credential;
      if (bytes === undefined || bytes.length === 0 || bytes.length > MAX_CODE_BYTES) {
        return { ok: false, code: "AUTH_FAILED", message: "no enrollment code" };
      }
      const found = await storage.takeEnrollmentCode(codeHash(utf8.decode(bytes)), req.nowSeconds);
      if (found === undefined) {
        return { ok: false, code: "AUTH_FAILED", message: "unknown enrollment code" };
      }
      if (found.usedAt !== undefined) {
        return {
          ok: false,
          code: "CODE_EXPIRED",
          message: "this enrollment code was used already",
        };
      }
      if (found.expiresAt < req.nowSeconds) {
        return { ok: false, code: "CODE_EXPIRED", message: "this enrollment code has expired" };
      }
      return { ok: true, userId: found.userId };
    },
  };
}
