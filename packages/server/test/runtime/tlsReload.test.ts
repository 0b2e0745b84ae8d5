/**
 * Certificate rotation against a running kalandrad (`start --core echo`, `[tls]` files):
 * SIGHUP re-reads the files and both TLS listeners (WebTransport and wss) serve the new
 * certificate to new connections while sessions opened before keep working; a broken pair
 * is refused and the running certificate stays; the expiry warning at start and the
 * `kalandra_tls_cert_expiry_seconds` gauge.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { WebTransport } from "@fails-components/webtransport";
import { tempDir } from "@kalandra/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevCertificate, generateDevCertificate } from "../../src/runtime/node/devCert.js";
import { WT_FLOW_OPTIONS, WT_PATH } from "../../src/runtime/node/transport.js";
import { readHeader } from "../../src/runtime/node/wire.js";
import { type Daemon, startDaemon, stopDaemon } from "../cli/proc.js";
import {
  app,
  authed,
  authedWs,
  type Device,
  device,
  type RawClient,
  type WsClient,
} from "./helpers.js";

const tmp = tempDir("tls-reload");
const certPath = join(tmp.path, "cert.pem");
const keyPath = join(tmp.path, "key.pem");
const configPath = join(tmp.path, "kalandrad.toml");
let d: Daemon;
let a: DevCertificate;

function install(c: { cert: string; key: string }): void {
  writeFileSync(certPath, c.cert);
  writeFileSync(keyPath, c.key);
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The SHA-256 of the certificate a new TLS connection to `port` is served. */
function servedHash(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? "";
      s.end();
      resolve(fp.replaceAll(":", "").toLowerCase());
    });
    s.once("error", reject);
  });
}

/** A WebTransport session pinning `hash` fails its handshake (the hub serves another certificate). */
async function pinRefused(port: number, hash: Uint8Array): Promise<void> {
  const wt = new WebTransport(`https://127.0.0.1:${port}${WT_PATH}`, {
    serverCertificateHashes: [{ algorithm: "sha-256", value: hash.slice() }],
    ...WT_FLOW_OPTIONS,
  } as never);
  wt.closed.catch(() => undefined);
  await expect(wt.ready).rejects.toThrow(/handshake failed/);
}

/** One request/answer through the echo core on an open session. */
async function echoes(c: RawClient | WsClient, dev: Device, id: number): Promise<void> {
  await c.send(app(dev, id));
  await c.waitFor((f) => readHeader(f).requestId === id);
}

beforeAll(async () => {
  a = generateDevCertificate();
  install(a);
  writeFileSync(configPath, `[tls]\ncert = "${certPath}"\nkey = "${keyPath}"\n`);
  d = await startDaemon(join(tmp.path, "data"), {}, ["--config", configPath, "--core", "echo"]);
}, 60_000);

afterAll(async () => {
  await stopDaemon(d);
  tmp.cleanup();
});

const wsPort = () => Number(new URL(d.ready.websocket).port);

describe("kalandrad certificate rotation", () => {
  it("warns at start about a certificate inside the 14-day window and exports its expiry", async () => {
    expect(d.ready.cert_sha256).toBe(hex(a.hash));
    const warn = d.lines.find((l) => String(l.msg).startsWith("TLS certificate expires in"));
    expect(warn).toMatchObject({ level: 40, cert_sha256: hex(a.hash), days_left: 12 });
    const text = await (await fetch(`http://127.0.0.1:${d.ready.monitoring_port}/metrics`)).text();
    const m = /kalandra_tls_cert_expiry_seconds\{source="configured"\} (\d+)/.exec(text);
    const left = (a.notAfter.getTime() - Date.now()) / 1000;
    expect(Math.abs(Number(m?.[1]) - left)).toBeLessThan(120);
  });

  it("SIGHUP serves the new certificate on both listeners; open sessions keep working", async () => {
    const wtDev = device();
    const wsDev = device();
    const wt = await authed(d.ready.port, a.hash, wtDev);
    const wss = await authedWs(wsPort(), wsDev, "bob", true);
    expect(await servedHash(wsPort())).toBe(hex(a.hash));

    const b = generateDevCertificate(["localhost", "127.0.0.1"], new Date(Date.now() + 3600_000));
    install(b);
    d.child.kill("SIGHUP");
    const line = await d.waitLog(/^TLS certificate reloaded$/);
    expect(line).toMatchObject({ cert_sha256: hex(b.hash), previous_sha256: hex(a.hash) });

    // Sessions made under the old certificate carry on, both ways.
    await echoes(wt, wtDev, 11);
    await echoes(wss, wsDev, 12);
    // New connections get the new one: wss serves it, WebTransport pins it.
    expect(await servedHash(wsPort())).toBe(hex(b.hash));
    const freshDev = device();
    const fresh = await authed(d.ready.port, b.hash, freshDev);
    await pinRefused(d.ready.port, a.hash);
    const text = await (await fetch(`http://127.0.0.1:${d.ready.monitoring_port}/metrics`)).text();
    expect(text).toContain('kalandra_tls_cert_reloads_total{result="ok"} 1');

    // A renewal caught half-way (certificate written, key not yet): refused, B stays.
    const c = generateDevCertificate();
    writeFileSync(certPath, c.cert);
    d.child.kill("SIGHUP");
    const failed = await d.waitLog(/^TLS certificate reload failed/);
    expect(failed.err).toMatch(/is not the key of tls.cert/);
    expect(await servedHash(wsPort())).toBe(hex(b.hash));
    await echoes(wt, wtDev, 13);
    await echoes(fresh, freshDev, 14);
    wt.close();
    wss.close();
    fresh.close();
  }, 60_000);
});
