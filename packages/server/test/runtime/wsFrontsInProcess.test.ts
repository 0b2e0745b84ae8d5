/**
 * The WebSocket fronts' primary side in this process (wsFronts.ts) over an
 * echo HubHost, the fronts forked as in kalandrad: wss through a front, a client that
 * stops reading is closed as too slow, a SIGHUP-style reconfigure raises the message cap
 * in the fronts, a renewed certificate reaches them; the web app served by the fronts
 * (`web.static_dir`), and 426 for plain HTTP without it; the keep-alive run by the fronts
 * (ping frames; a silent client closed as idle).
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import {
  encodePayload,
  HEADER_SIZE,
  Opcode,
  systemClock,
  systemRng,
  systemTimers,
} from "@kalandra/proto";
import { tempDir } from "@kalandra/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import { HubHost } from "../../src/hub/hubHost.js";
import { generateDevCertificate } from "../../src/runtime/node/devCert.js";
import { readHeader } from "../../src/runtime/node/wire.js";
import { WebSocketFronts } from "../../src/runtime/node/wsFronts.js";
import {
  app,
  authedWs,
  defaultLimits,
  device,
  EchoRecorder,
  errorName,
  hubKey,
  isOp,
  rawFrame,
} from "./helpers.js";

let fronts: WebSocketFronts;
let host: HubHost;
let core: EchoRecorder;
let port: number;
/** Warnings the fronts' primary logged (the slow client's). */
const warnings: string[] = [];
const log = {
  warn: (_o: unknown, msg: string) => warnings.push(msg),
  info: () => undefined,
  debug: () => undefined,
  error: () => undefined,
} as never;
const cert = generateDevCertificate();
const limits = { ...defaultLimits, maxPayloadBytes: 64 * 1024, maxConnections: 100 };

beforeAll(async () => {
  host = await HubHost.open({ clock: systemClock, limits }, (sink) => new EchoRecorder(sink));
  core = host.core as EchoRecorder;
  fronts = new WebSocketFronts({
    host: "127.0.0.1",
    port: 0,
    hubKey: hubKey(),
    hub: host,
    limits,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    tls: { cert: cert.cert, key: cert.key },
    fronts: 2,
    log,
    maxQueuedBytes: 1 << 20,
  });
  ({ port } = await fronts.start());
}, 30_000);

afterAll(async () => {
  await fronts.close(500);
});

/** The certificate a TLS handshake on the port presents now. */
function servedCertificate(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const raw = s.getPeerX509Certificate();
      s.destroy();
      if (raw) resolve(raw.fingerprint256);
      else reject(new Error("no certificate"));
    });
    s.on("error", reject);
  });
}

describe("WebSocket fronts (primary in this process)", () => {
  it("serves wss sessions through the fronts into the one host, balanced over both", async () => {
    const devs = [device(), device(), device(), device()];
    const clients = await Promise.all(devs.map((d, i) => authedWs(port, d, `u${i}`, true)));
    expect(fronts.size).toBe(4);
    expect([fronts.sessionsOn(0), fronts.sessionsOn(1)]).toEqual([2, 2]);
    expect(fronts.pids).toHaveLength(2);
    for (const [i, d] of devs.entries()) {
      const [sid] = host.sessionsOf(d.senderId);
      expect(sid).toMatch(/^wf[01]-/);
      await clients[i]?.send(app(d, 10 + i));
      await clients[i]?.waitFor((f) => readHeader(f).requestId === 10 + i);
    }
    for (const c of clients) c.close();
  });

  it("closes a client that stops reading once a front holds too much for it", async () => {
    const slow = device();
    const c = await authedWs(port, slow, "slow", true);
    const [sid] = host.sessionsOf(slow.senderId);
    if (sid === undefined) throw new Error("no session");
    // Stop reading: the kernel buffers fill, then the front's ws queue grows.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = app(slow, 1, 60 * 1024);
    for (let i = 0; i < 400 && host.sessionsOf(slow.senderId).length > 0; i++) {
      core.reply(sid, big);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    const deadline = Date.now() + 5000;
    while (host.sessionsOf(slow.senderId).length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(host.sessionsOf(slow.senderId)).toEqual([]);
    expect(warnings).toContain("client too slow; closing");
    c.close();
  });

  it("a reconfigured payload limit reaches the fronts' message cap", async () => {
    const d = device();
    const c = await authedWs(port, d, "big", true);
    // 100 KiB: over max_payload_bytes (64 KiB), within ws's margin: the session answers.
    await c.send(app(d, 1, 100 * 1024));
    await c.waitFor(isOp(Opcode.ERROR));
    expect(errorName(c.frames.find(isOp(Opcode.ERROR)) as Uint8Array)).toBe("PAYLOAD_TOO_LARGE");
    c.close();
    fronts.reconfigure({ ...limits, maxPayloadBytes: 1 << 20 });
    const d2 = device();
    const c2 = await authedWs(port, d2, "big2", true);
    // 300 KiB: far over the old cap (64 KiB + margin), which ws would have cut off (1009).
    await c2.send(app(d2, 22, 300 * 1024));
    const echoed = await c2.waitFor(
      (f) => isOp(Opcode.APP_MESSAGE)(f) && readHeader(f).requestId === 22,
    );
    expect(echoed.length).toBeGreaterThan(300 * 1024 + HEADER_SIZE);
    c2.close();
  });

  it("a renewed certificate is what the fronts serve to new connections", async () => {
    const before = await servedCertificate();
    expect(before).toBe(new X509Certificate(cert.cert).fingerprint256);
    const next = generateDevCertificate();
    fronts.updateCertificate(next.cert, next.key);
    const want = new X509Certificate(next.cert).fingerprint256;
    const deadline = Date.now() + 5000;
    let served = before;
    while (served !== want && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      served = await servedCertificate();
    }
    expect(served).toBe(want);
  });

  it("keep-alive is the fronts': a silent client is closed as idle, one answering ping frames or sending PINGs is kept", async () => {
    const keepalive = { keepaliveIntervalMs: 200, idleTimeoutMs: 800 };
    fronts.reconfigure({ ...limits, ...keepalive });
    const chatter: ReturnType<typeof setInterval>[] = [];
    try {
      const [mute, answers, pinging] = [device(), device(), device()];
      const silent = await authedWs(port, mute, "mute", true, false);
      // Its silence starts at AUTH_OK: opening the other two may take long on a loaded machine.
      const started = Date.now();
      const closedWith = new Promise<{ code: number; reason: string }>((r) =>
        silent.ws.once("close", (code, reason) => r({ code, reason: reason.toString() })),
      );
      const kept = await authedWs(port, answers, "answers", true);
      let framePings = 0;
      kept.ws.on("ping", () => framePings++);
      const talker = await authedWs(port, pinging, "pinging", true, false);
      chatter.push(
        setInterval(
          () =>
            void talker.send(
              rawFrame(
                pinging,
                { opcode: Opcode.PING, requestId: 9 },
                encodePayload(Opcode.PING, { nonce: 9 }),
              ),
            ),
          100,
        ),
      );
      expect(await closedWith).toEqual({ code: 1000, reason: "idle timeout" });
      expect(Date.now() - started).toBeGreaterThanOrEqual(keepalive.idleTimeoutMs - 100);
      expect(host.sessionsOf(mute.senderId)).toEqual([]);
      // Three timeouts on: the other two are still there; the hub sent no PING frame of its own.
      await new Promise((r) => setTimeout(r, 3 * keepalive.idleTimeoutMs));
      expect(host.sessionsOf(answers.senderId)).toHaveLength(1);
      expect(host.sessionsOf(pinging.senderId)).toHaveLength(1);
      expect(framePings).toBeGreaterThanOrEqual(3);
      expect(kept.frames.filter(isOp(Opcode.PING))).toEqual([]);
      expect(talker.frames.filter(isOp(Opcode.PONG)).length).toBeGreaterThanOrEqual(10);
      kept.close();
      talker.close();
    } finally {
      for (const c of chatter) clearInterval(c);
      fronts.reconfigure(limits);
    }
  });
});

describe("the web app through a front", () => {
  it("serves the page and the hub's settings from the fronts; plain HTTP without it gets 426", async () => {
    const dir = tempDir("fronts-webapp");
    const root = join(dir.path, "dist");
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "index.html"), "<!doctype html><title>app</title>");
    const built = buildConfig({ web: { static_dir: root } }, {});
    if (!built.ok) throw new Error(JSON.stringify(built.issues));
    const key = hubKey();
    const web = new WebSocketFronts({
      host: "127.0.0.1",
      port: 0,
      hubKey: key,
      hub: host,
      limits,
      clock: systemClock,
      rng: systemRng,
      timers: systemTimers(),
      fronts: 1,
      webApp: { config: built.config, hubPublicKey: key.publicKey },
    });
    try {
      const webPort = (await web.start()).port;
      const page = await fetch(`http://127.0.0.1:${webPort}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("<title>app</title>");
      const settings = (await (
        await fetch(`http://127.0.0.1:${webPort}/.well-known/kalandra.json`)
      ).json()) as { hubPublicKey: string };
      expect(settings.hubPublicKey).toBe(Buffer.from(key.publicKey).toString("hex"));
    } finally {
      await web.close(200);
      dir.cleanup();
    }
    // The wss fronts of this file serve no web app: plain HTTPS gets 426 Upgrade Required.
    const plain = await new Promise<number>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
        s.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      });
      let head = "";
      s.setEncoding("utf8").on("data", (d: string) => {
        head += d;
        const m = /^HTTP\/1\.1 (\d+)/.exec(head);
        if (m) {
          resolve(Number(m[1]));
          s.destroy();
        }
      });
      s.on("error", reject);
    });
    expect(plain).toBe(426);
  });
});
