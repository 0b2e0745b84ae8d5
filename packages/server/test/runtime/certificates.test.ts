/**
 * The served certificate over a daemon's life (certificates.ts), on an injected clock and
 * timer queue: the expiry warning (at start, at reload, once a day from the timer, never for
 * the self-renewing development certificate), the expiry gauge, SIGHUP re-reads that apply a
 * new certificate or refuse a broken one and keep the old, and the development
 * certificate's renewal when it has a day left.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ManualTime, tempDir } from "@kalandra/test-support";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { Certificates } from "../../src/runtime/node/certificates.js";
import { generateDevCertificate } from "../../src/runtime/node/devCert.js";
import { createLogger } from "../../src/runtime/node/logger.js";
import { readConfiguredCertificate } from "../../src/runtime/node/tlsCertificate.js";

const tmp = tempDir("certificates");
afterAll(() => tmp.cleanup());
const DAY = 86400_000;
const T0 = Date.UTC(2026, 11, 1);
let n = 0;

function logCapture() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const log = createLogger("debug", { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines, msgs: () => lines.map((l) => l.msg) };
}

/** A 13-day certificate made at `at` (valid from at − 1 h), written to a fresh pair of files. */
function certFiles(at: number) {
  const dir = join(tmp.path, `c${n++}`);
  const c = generateDevCertificate(["localhost", "127.0.0.1"], new Date(at));
  const certPath = `${dir}-cert.pem`;
  const keyPath = `${dir}-key.pem`;
  writeFileSync(certPath, c.cert);
  writeFileSync(keyPath, c.key);
  return { c, certPath, keyPath };
}

function setup(o: { certPath?: string; keyPath?: string; warningDays?: number; dataDir?: string }) {
  const time = new ManualTime(BigInt(T0));
  const cap = logCapture();
  const registry = new Registry();
  const certs = new Certificates({
    certPath: o.certPath ?? "",
    keyPath: o.keyPath ?? "",
    dataDir: o.dataDir ?? join(tmp.path, `data${n++}`),
    warningDays: o.warningDays ?? 14,
    log: cap.log,
    registry,
    now: () => new Date(Number(time.now())),
  });
  return { time, certs, registry, ...cap };
}

async function gauge(registry: Registry): Promise<string> {
  return (await registry.getSingleMetricAsString("kalandra_tls_cert_expiry_seconds")).trim();
}

describe("Certificates: expiry", () => {
  it("warns at start inside the window, reports the seconds left, and not outside it", async () => {
    const a = certFiles(T0);
    const inside = setup({ certPath: a.certPath, keyPath: a.keyPath });
    const warn = inside.lines.find((l) => String(l.msg).startsWith("TLS certificate expires"));
    expect(warn?.level).toBe(40);
    expect(warn?.days_left).toBe(12);
    const left = (a.c.notAfter.getTime() - T0) / 1000;
    expect(inside.certs.secondsLeft()).toBe(left);
    expect(await gauge(inside.registry)).toContain(
      `kalandra_tls_cert_expiry_seconds{source="configured"} ${left}`,
    );

    const outside = setup({ certPath: a.certPath, keyPath: a.keyPath, warningDays: 7 });
    expect(outside.msgs().filter((m) => m.startsWith("TLS certificate"))).toEqual([]);
  });

  it("the timer warns on entering the window, then at most once a day; expired is an error", () => {
    const a = certFiles(T0);
    const s = setup({ certPath: a.certPath, keyPath: a.keyPath, warningDays: 7 });
    s.certs.start(s.time, 3600_000);
    const warnings = () => s.lines.filter((l) => String(l.msg).startsWith("TLS certificate exp"));
    s.time.advance(5 * DAY); // 13 − 1/24 − 5 days left: still outside 7
    expect(warnings()).toHaveLength(0);
    s.time.advance(1 * DAY + 3600_000); // now inside
    expect(warnings()).toHaveLength(1);
    s.time.advance(DAY - 3 * 3600_000);
    expect(warnings()).toHaveLength(1);
    s.time.advance(3 * 3600_000);
    expect(warnings()).toHaveLength(2);
    s.time.advance(7 * DAY); // past notAfter
    const last = warnings().at(-1);
    expect(last?.msg).toBe("TLS certificate expired: renew it and send SIGHUP");
    expect(last?.level).toBe(50);
    expect(s.certs.secondsLeft()).toBeLessThan(0);
    s.certs.stop();
    expect(s.time.pendingTimers).toBe(0);
  });
});

describe("Certificates: reload (SIGHUP)", () => {
  it("applies new files to every listener, keeps the old on a broken pair, says unchanged", async () => {
    const a = certFiles(T0);
    const s = setup({ certPath: a.certPath, keyPath: a.keyPath });
    const applied: Uint8Array[] = [];
    s.certs.onChange((c) => applied.push(c.hash));
    s.certs.onChange((c) => applied.push(c.hash));
    expect(s.certs.reload()).toBe("unchanged");
    expect(applied).toEqual([]);

    const b = generateDevCertificate(["localhost"], new Date(T0 + DAY));
    writeFileSync(a.certPath, b.cert);
    writeFileSync(a.keyPath, b.key);
    s.time.advance(DAY);
    expect(s.certs.reload()).toBe("ok");
    expect(applied).toEqual([b.hash, b.hash]);
    expect(s.certs.current.hash).toEqual(b.hash);
    expect(s.lines.find((l) => l.msg === "TLS certificate reloaded")?.cert_sha256).toBe(
      Buffer.from(b.hash).toString("hex"),
    );
    expect(await gauge(s.registry)).toContain(` ${(b.notAfter.getTime() - T0 - DAY) / 1000}`);

    // A renewal caught half-way: the new certificate with the old key.
    const c = generateDevCertificate(["localhost"], new Date(T0 + 2 * DAY));
    writeFileSync(a.certPath, c.cert);
    expect(s.certs.reload()).toBe("failed");
    expect(s.certs.current.hash).toEqual(b.hash);
    expect(applied).toHaveLength(2);
    const err = s.lines.find((l) => String(l.msg).startsWith("TLS certificate reload failed"));
    expect(err?.err).toMatch(/is not the key of tls.cert/);
    const reloads = await s.registry.getSingleMetricAsString("kalandra_tls_cert_reloads_total");
    for (const r of ['result="unchanged"} 1', 'result="ok"} 1', 'result="failed"} 1'])
      expect(reloads).toContain(r);
    // The reload logs the warning again while inside the window (13-day certificates).
    expect(s.msgs().filter((m) => m.startsWith("TLS certificate expires")).length).toBe(4);
  });

  it("refuses at start what it would refuse at reload, naming the file", () => {
    const a = certFiles(T0);
    const other = certFiles(T0);
    expect(() => readConfiguredCertificate(a.certPath, other.keyPath)).toThrow(
      `tls.key ${other.keyPath} is not the key of tls.cert ${a.certPath}`,
    );
    expect(() => readConfiguredCertificate(join(tmp.path, "none.pem"), a.keyPath)).toThrow(
      /tls.cert .*none.pem: cannot read it \(ENOENT\)/,
    );
    expect(() => readConfiguredCertificate(a.keyPath, a.keyPath)).toThrow(/not a PEM certificate/);
    expect(() => readConfiguredCertificate(a.certPath, a.certPath)).toThrow(
      /not a PEM private key/,
    );
    expect(() => setup({ certPath: a.certPath, keyPath: other.keyPath })).toThrow(/is not the key/);
  });
});

describe("Certificates: the development certificate", () => {
  it("renews itself when a day is left, applies and keeps the new one, never warns", async () => {
    const dataDir = join(tmp.path, "dev");
    const s = setup({ dataDir });
    const first = s.certs.current;
    expect(first.source).toBe("development");
    const applied: Uint8Array[] = [];
    s.certs.onChange((c) => applied.push(c.hash));
    s.certs.start(s.time, 3600_000);
    s.time.advance(11 * DAY); // 2 days − 1 h left
    expect(applied).toEqual([]);
    s.time.advance(DAY); // a day or less left: renewed at the next check
    expect(applied).toHaveLength(1);
    const renewed = s.certs.current;
    expect(renewed.hash).not.toEqual(first.hash);
    expect(renewed.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime() + 10 * DAY);
    // The renewal is the data directory's certificate now (a restart keeps its hash).
    const onDisk = new X509Certificate(readFileSync(join(dataDir, "dev-cert.pem")));
    expect(onDisk.fingerprint256.replaceAll(":", "").toLowerCase()).toBe(
      Buffer.from(renewed.hash).toString("hex"),
    );
    const line = s.lines.find((l) => String(l.msg).startsWith("development certificate renewed"));
    expect(line?.previous_sha256).toBe(Buffer.from(first.hash).toString("hex"));
    expect(s.msgs().filter((m) => m.startsWith("TLS certificate exp"))).toEqual([]);
    expect(await gauge(s.registry)).toContain('source="development"');
    s.time.advance(DAY); // the new one has 12 days left: nothing more happens
    expect(applied).toHaveLength(1);
    s.certs.stop();
  });
});
