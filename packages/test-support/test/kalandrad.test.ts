import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startKalandrad, tempDir } from "../src/index.js";

// A stand-in for kalandrad's bin: logs its arguments and environment, then the ready line
// (or exits, or stays silent, as its first argument after `start` says), until SIGTERM.
const dir = tempDir("fake-kalandrad");
const bin = join(dir.path, "kalandrad.mjs");
writeFileSync(
  bin,
  `const [, , cmd, mode] = process.argv;
const e = process.env;
console.log(JSON.stringify({ msg: "starting", cmd, data: e.KALANDRA_DATABASE__PATH, listen: e.KALANDRA_SERVER__LISTEN, monitoring: e.KALANDRA_MONITORING__LISTEN, level: e.KALANDRA_SERVER__LOG_LEVEL }));
if (mode === "fail") process.exit(3);
if (mode === "ready") {
  const ready = { msg: "kalandrad ready", port: 4433, monitoring_port: 9090, websocket: "ws://" + e.KALANDRA_SERVER__WEBSOCKET_LISTEN + "/kalandra", cert_sha256: "0a0b", hub_key: "ff01" };
  const line = JSON.stringify(ready) + "\\n";
  process.stdout.write(line.slice(0, 20)); // a line may arrive in pieces
  setTimeout(() => process.stdout.write(line.slice(20)), 20);
}
setInterval(() => undefined, 1000);
`,
);
afterAll(() => dir.cleanup());

describe("startKalandrad", () => {
  it("passes the data dir, addresses and variables, and resolves with the ready line's fields", async () => {
    const out: string[] = [];
    const hub = await startKalandrad({
      bin,
      dataDir: "/data/x",
      websocketListen: "127.0.0.1:7000",
      monitoringListen: "",
      args: ["ready"],
      env: { KALANDRA_SERVER__LOG_LEVEL: "debug" },
      onStdout: (d) => out.push(d),
    });
    expect(hub).toMatchObject({
      port: 4433,
      monitoringPort: 9090,
      websocket: "ws://127.0.0.1:7000/kalandra",
      certHash: Uint8Array.of(0x0a, 0x0b),
      hubKey: Uint8Array.of(0xff, 0x01),
    });
    expect(JSON.parse(out.join("").split("\n")[0] as string)).toEqual({
      msg: "starting",
      cmd: "start",
      data: "/data/x",
      listen: "127.0.0.1:0",
      monitoring: "",
      level: "debug",
    });
    hub.child.kill("SIGTERM");
    expect(await hub.exit).toBeNull();
  });

  it("rejects with the log when the hub exits before it is ready", async () => {
    await expect(startKalandrad({ bin, dataDir: dir.path, args: ["fail"] })).rejects.toThrow(
      /exited with 3: .*"starting"/,
    );
  });

  it("kills the hub and rejects when it is not ready in time", async () => {
    await expect(
      startKalandrad({ bin, dataDir: dir.path, args: ["silent"], readyTimeoutMs: 300 }),
    ).rejects.toThrow(/not ready in 300 ms/);
  });
});
