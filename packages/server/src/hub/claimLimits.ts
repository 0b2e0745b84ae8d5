/**
 * Rate limits on key-package claims (issue 12): one token bucket per claiming user and one
 * per claimed (target) user, so draining someone's key packages is slow and shows (every
 * refusal is a CLAIM_RATE_LIMITED error, counted by code in `kalandra_frames_rejected_total`)
 * and one claimer cannot starve the directory. A refused claim still spends the claimer's
 * token: hammering a protected target is not free. The per-target limit also bounds how
 * fast anyone can fill a device's Welcome inbox (inbox/welcomeInbox.ts).
 *
 * Buckets are kept per user id; a full bucket is the same as none, so when the maps grow
 * past `MAX_TRACKED` the full ones are forgotten.
 */
import type { Clock } from "@kalandra/proto";
import { type Refusal, refuse } from "../vocabulary/outcome.js";
import { TokenBucket } from "./tokenBucket.js";

export interface ClaimLimits {
  /** KP_CLAIMs one user may make per minute, over all its devices (also the burst). */
  kpClaimsPerMinPerClaimer: number;
  /** KP_CLAIMs naming one user per minute, whoever makes them (also the burst). */
  kpClaimsPerMinPerTarget: number;
}

export const DEFAULT_CLAIM_LIMITS: ClaimLimits = {
  kpClaimsPerMinPerClaimer: 600,
  kpClaimsPerMinPerTarget: 30,
};

const MAX_TRACKED = 10_000;

export class ClaimRateLimiter {
  private readonly claimers = new Map<string, TokenBucket>();
  private readonly targets = new Map<string, TokenBucket>();

  constructor(
    private readonly clock: Clock,
    private limits: ClaimLimits = DEFAULT_CLAIM_LIMITS,
  ) {}

  /** Admits one claim by `claimer` of `target`'s key packages, or says which limit refused it. */
  admit(claimer: string, target: string): Refusal | undefined {
    if (!this.bucket(this.claimers, claimer, this.limits.kpClaimsPerMinPerClaimer).take()) {
      return refuse(
        "CLAIM_RATE_LIMITED",
        `${this.limits.kpClaimsPerMinPerClaimer} key-package claims per minute per claimer`,
      );
    }
    if (!this.bucket(this.targets, target, this.limits.kpClaimsPerMinPerTarget).take()) {
      return refuse(
        "CLAIM_RATE_LIMITED",
        `${this.limits.kpClaimsPerMinPerTarget} key-package claims per minute of ${target}`,
      );
    }
    return undefined;
  }

  /** Applies changed limits (SIGHUP) to every bucket. */
  reconfigure(limits: ClaimLimits): void {
    this.limits = limits;
    for (const b of this.claimers.values()) b.configure(...rate(limits.kpClaimsPerMinPerClaimer));
    for (const b of this.targets.values()) b.configure(...rate(limits.kpClaimsPerMinPerTarget));
  }

  private bucket(map: Map<string, TokenBucket>, user: string, perMin: number): TokenBucket {
    let b = map.get(user);
    if (b === undefined) {
      if (map.size >= MAX_TRACKED) {
        for (const [k, v] of map) if (v.isFull()) map.delete(k);
      }
      b = new TokenBucket(...rate(perMin), this.clock);
      map.set(user, b);
    }
    return b;
  }
}

/** A per-minute limit as a token bucket's (rate per second, burst). */
function rate(perMin: number): [number, number] {
  return [perMin / 60, perMin];
}
