/**
 * The served TLS certificate over the daemon's life: loaded at start, re-read on SIGHUP and
 * handed to every listener that uses TLS (WebTransport always, WebSocket when it is wss)
 * without touching open sessions (a TLS session keeps the certificate it was made with);
 * watched for expiry (`kalandra_tls_cert_expiry_seconds`, a warning log inside
 * `tls.expiry_warning_days`); and, for the development certificate, renewed in place when it
 * has a day or less left, since it is valid for 13 days only (WebTransport's hash pinning
 * refuses longer ones).
 *
 * A certificate that cannot be read on SIGHUP (missing file, key not matching) is refused,
 * logged, counted (`kalandra_tls_cert_reloads_total{result="failed"}`), and the running one
 * stays: a half-written renewal never takes the listeners down.
 */
import { type TimerHandle, type Timers, toHex } from "@kalandra/proto";
import { Counter, Gauge, type Registry } from "prom-client";
import { DEV_CERT_RENEW_BEFORE_MS } from "./devCertStore.js";
import type { Logger } from "./logger.js";
import {
  developmentCertificate,
  readConfiguredCertificate,
  type TlsCertificate,
} from "./tlsCertificate.js";

const DAY_MS = 86400_000;
/** How often a running daemon looks at the certificate's expiry (and renews a development one). */
export const CERT_CHECK_INTERVAL_MS = 3600_000;

export interface CertificatesOptions {
  /** `tls.cert` / `tls.key`; both empty = the development certificate of `dataDir`. */
  certPath: string;
  keyPath: string;
  dataDir: string;
  /** `tls.expiry_warning_days`. */
  warningDays: number;
  log: Logger;
  registry: Registry;
  /** Wall clock (injected so the expiry rules are testable). */
  now?: () => Date;
}

export class Certificates {
  private cert: TlsCertificate;
  private readonly appliers: ((c: TlsCertificate) => void)[] = [];
  private readonly reloads: Counter<"result">;
  private readonly now: () => Date;
  private warningDays: number;
  private lastWarning: number | undefined;
  private timer: { timers: Timers; handle: TimerHandle } | undefined;

  /** Loads the certificate (throws when a configured one is unusable: the start fails). */
  constructor(private readonly o: CertificatesOptions) {
    this.now = o.now ?? (() => new Date());
    this.warningDays = o.warningDays;
    this.cert = this.read();
    const self = this;
    new Gauge({
      name: "kalandra_tls_cert_expiry_seconds",
      help: "Seconds until the served TLS certificate expires (negative once expired), by source (configured or development)",
      labelNames: ["source"],
      registers: [o.registry],
      collect() {
        this.reset();
        this.set({ source: self.cert.source }, self.secondsLeft());
      },
    });
    this.reloads = new Counter({
      name: "kalandra_tls_cert_reloads_total",
      help: "TLS certificate re-reads (SIGHUP, development renewal), by result (ok, unchanged, failed)",
      labelNames: ["result"],
      registers: [o.registry],
    });
    if (this.cert.source === "development") {
      o.log.warn(
        { cert_sha256: toHex(this.cert.hash), not_after: this.cert.notAfter.toISOString() },
        "no [tls] configured: using a development certificate (clients must pin its hash)",
      );
    }
    this.warnIfExpiring(true);
  }

  get current(): TlsCertificate {
    return this.cert;
  }

  /** Seconds until the served certificate's notAfter (negative once it passed). */
  secondsLeft(): number {
    return Math.floor((this.cert.notAfter.getTime() - this.now().getTime()) / 1000);
  }

  /** Called with every new certificate (the listeners swap their TLS context). */
  onChange(apply: (c: TlsCertificate) => void): void {
    this.appliers.push(apply);
  }

  /**
   * SIGHUP: re-reads the files (the development certificate: renews it if due) and applies a
   * changed certificate to every listener. `warningDays` is the reloaded
   * `tls.expiry_warning_days`.
   */
  reload(warningDays = this.warningDays): "ok" | "unchanged" | "failed" {
    this.warningDays = warningDays;
    let next: TlsCertificate;
    try {
      next = this.read();
    } catch (e) {
      this.reloads.inc({ result: "failed" });
      this.o.log.error(
        { err: (e as Error).message, cert_sha256: toHex(this.cert.hash) },
        "TLS certificate reload failed: keeping the running certificate",
      );
      this.warnIfExpiring(true);
      return "failed";
    }
    const result = this.install(next, "TLS certificate reloaded");
    this.warnIfExpiring(true);
    return result;
  }

  /**
   * The periodic look (and the timer's body): renews a development certificate with a day
   * or less left, and repeats the expiry warning at most once a day.
   */
  check(): void {
    const c = this.cert;
    if (
      c.source === "development" &&
      c.notAfter.getTime() - this.now().getTime() <= DEV_CERT_RENEW_BEFORE_MS
    ) {
      try {
        this.install(this.read(), "development certificate renewed: clients must pin the new hash");
      } catch (e) {
        this.reloads.inc({ result: "failed" });
        this.o.log.error({ err: (e as Error).message }, "development certificate renewal failed");
      }
    }
    this.warnIfExpiring(false);
  }

  /** Runs `check` every `intervalMs` until `stop`. */
  start(timers: Timers, intervalMs = CERT_CHECK_INTERVAL_MS): void {
    const tick = () => {
      this.check();
      if (this.timer) this.timer.handle = timers.set(intervalMs, tick);
    };
    this.timer = { timers, handle: timers.set(intervalMs, tick) };
  }

  stop(): void {
    if (this.timer) this.timer.timers.clear(this.timer.handle);
    this.timer = undefined;
  }

  private read(): TlsCertificate {
    if (this.o.certPath !== "") return readConfiguredCertificate(this.o.certPath, this.o.keyPath);
    return developmentCertificate(this.o.dataDir, this.now()).cert;
  }

  private install(next: TlsCertificate, message: string): "ok" | "unchanged" {
    if (next.cert === this.cert.cert && next.key === this.cert.key) {
      this.reloads.inc({ result: "unchanged" });
      return "unchanged";
    }
    const previous = this.cert;
    this.cert = next;
    for (const apply of this.appliers) apply(next);
    this.reloads.inc({ result: "ok" });
    this.lastWarning = undefined;
    this.o.log.info(
      {
        cert_sha256: toHex(next.hash),
        previous_sha256: toHex(previous.hash),
        not_after: next.notAfter.toISOString(),
        source: next.source,
      },
      message,
    );
    return "ok";
  }

  /**
   * A configured certificate inside the warning window (or expired) is logged at start and
   * at every reload (`always`), otherwise at most once a day. The development certificate is
   * always inside the window (13 days) and renews itself, so it is not warned about.
   */
  private warnIfExpiring(always: boolean): void {
    if (this.cert.source !== "configured") return;
    const now = this.now().getTime();
    const left = this.cert.notAfter.getTime() - now;
    if (left > this.warningDays * DAY_MS) return;
    if (!always && this.lastWarning !== undefined && now - this.lastWarning < DAY_MS) return;
    this.lastWarning = now;
    const fields = {
      cert_sha256: toHex(this.cert.hash),
      not_after: this.cert.notAfter.toISOString(),
      days_left: Math.floor(left / DAY_MS),
    };
    if (left <= 0) this.o.log.error(fields, "TLS certificate expired: renew it and send SIGHUP");
    else
      this.o.log.warn(
        fields,
        `TLS certificate expires in less than ${this.warningDays} days: renew it and send SIGHUP`,
      );
  }
}
