/**
 * What a session admits of its authenticated device's frames, around the signature check:
 * the session's own rate, sender_id, the signature's verdict, the device's rate (one
 * bucket shared by the device's sessions, owned by the hub: hub/hubHost.ts), and the
 * strikes after which a misbehaving session is closed. Pure: time comes from the clock.
 */
import { type Clock, HUB_ONLY_FLAGS, type ProtocolErrorCode } from "@kalandra/proto";
import { TokenBucket } from "../hub/tokenBucket.js";

export interface AdmissionLimits {
  connectionRatePerSec: number;
  connectionBurst: number;
  maxStrikes: number;
}

/** A frame not admitted; `strike` when it counts towards closing the session. */
export interface AdmissionRefusal {
  code: ProtocolErrorCode;
  message: string;
  strike: boolean;
}

export class Admission {
  private readonly bucket: TokenBucket;
  private strikes = 0;

  constructor(
    private limits: AdmissionLimits,
    clock: Clock,
  ) {
    this.bucket = new TokenBucket(limits.connectionRatePerSec, limits.connectionBurst, clock);
  }

  /** Applies changed limits (SIGHUP). */
  reconfigure(limits: AdmissionLimits): void {
    this.limits = limits;
    this.bucket.configure(limits.connectionRatePerSec, limits.connectionBurst);
  }

  /**
   * Before the signature is checked: the session's rate, the flags (a client sends plain
   * requests: RESPONSE, ERROR, EXTERNAL and FEDERATED are the hub's and its peers'), then
   * sender_id.
   */
  beforeVerify(
    frameSender: bigint,
    sessionSender: bigint,
    flags: number,
  ): AdmissionRefusal | undefined {
    if (!this.bucket.take()) {
      return { code: "RATE_LIMITED", message: "session rate limit exceeded", strike: false };
    }
    if ((flags & HUB_ONLY_FLAGS) !== 0) {
      return { code: "FORBIDDEN", message: "clients send plain requests", strike: true };
    }
    if (frameSender !== sessionSender) {
      const message = "sender_id is not this session's device";
      return { code: "SENDER_MISMATCH", message, strike: true };
    }
    return undefined;
  }

  /** Once the signature is checked: its verdict, then the device's rate. */
  afterVerify(verified: boolean, device: TokenBucket): AdmissionRefusal | undefined {
    if (!verified) {
      return { code: "BAD_SIGNATURE", message: "frame signature does not verify", strike: true };
    }
    if (!device.take()) {
      return { code: "RATE_LIMITED", message: "device rate limit exceeded", strike: false };
    }
    return undefined;
  }

  /** Counts one strike; true once the session has had `maxStrikes` of them. */
  strike(): boolean {
    this.strikes++;
    return this.strikes >= this.limits.maxStrikes;
  }

  get strikeCount(): number {
    return this.strikes;
  }
}
