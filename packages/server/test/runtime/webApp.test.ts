import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { decodePayload, HEADER_SIZE, Opcode } from "@kalandra/proto";
import { tempDir } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { staticFiles } from "../../src/runtime/node/staticFiles.js";
import { APP_SETTINGS_PATH, appSettings, webAppHandler } from "../../src/runtime/node/webApp.js";
import { authedWs, device, hubPerFile, isOp } from "./helpers.js";

const dir = tempDir("webapp");
afterAll(() => dir.cleanup());
const root = join(dir.path, "dist");
mkdirSync(join(root, "assets"), { recursive: true });
writeFileSync(join(root, "index.html"), "<!doctype html><title>app</title>");
writeFileSync(join(root, "assets", "app.js"), "console.log(1)");
writeFileSync(join(root, "assets", "style.css"), "body{}");
writeFileSync(join(dir.path, "secret.txt"), "outside the static directory");
symlinkSync(join(dir.path, "secret.txt"), join(root, "link.txt"));

function config(over: Record<string, Record<string, unknown>>): Config {
  const r = buildConfig(over, {});
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

const hubKey = new Uint8Array(32).fill(7);
const devConfig = config({ web: { static_dir: root } });
const hub = hubPerFile({}, { websocket: true, http: await webAppHandler(devConfig, hubKey) });

/** A raw HTTP request: the path goes out as written (fetch would normalise `..`). */
function get(
  path: string,
  method = "GET",
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: hub.wsPort, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the web app on the WebSocket listener", () => {
  it("serves index.html at / and the app's files with their types and safety headers", async () => {
    const index = await get("/");
    expect(index.status).toBe(200);
    expect(index.body).toContain("<title>app</title>");
    expect(index.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(index.headers["x-content-type-options"]).toBe("nosniff");
    expect(index.headers["content-security-policy"]).toContain("script-src 'self'");
    const js = await get("/assets/app.js?v=1");
    expect([js.status, js.headers["content-type"], js.body]).toEqual([
      200,
      "text/javascript; charset=utf-8",
      "console.log(1)",
    ]);
    expect((await get("/assets/style.css")).headers["content-type"]).toBe(
      "text/css; charset=utf-8",
    );
    const head = await get("/index.html", "HEAD");
    expect([head.status, head.body]).toEqual([200, ""]);
  });

  it("refuses paths that leave the directory, directories, other methods and missing files", async () => {
    for (const path of [
      "/../secret.txt",
      "/assets/../../secret.txt",
      "/%2e%2e/secret.txt",
      "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
      "/..%5csecret.txt",
      "/index.html%00.js",
      "/%E0%A4%A",
      "/link.txt",
      "/assets",
      "/missing.js",
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).not.toContain("outside");
    }
    expect((await get("/", "POST")).status).toBe(405);
  });

  it("tells the page the hub key, the WebSocket path and the sign-in methods", async () => {
    const r = await get(APP_SETTINGS_PATH);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({
      hubPublicKey: "07".repeat(32),
      websocketPath: "/kalandra",
      domain: "localhost",
      auth: { methods: ["dev"] },
    });
    const oidc = config({
      auth: {
        methods: ["oidc"],
        oidc_issuer: "https://id.example.org/realm",
        oidc_audience: "kalandra-web",
        oidc_jwks_url: "https://id.example.org/jwks",
      },
      server: { domain: "example.org" },
    });
    expect(appSettings(oidc, hubKey).auth).toEqual({
      methods: ["oidc"],
      oidc: {
        issuer: "https://id.example.org/realm",
        clientId: "kalandra-web",
        userClaim: "sub",
      },
    });
  });

  it("still upgrades WebSockets on the same port", async () => {
    const dev = device();
    const c = await authedWs(hub.wsPort, dev, "alice");
    const ok = c.frames.find(isOp(Opcode.AUTH_OK)) as Uint8Array;
    expect(decodePayload(Opcode.AUTH_OK, ok.subarray(HEADER_SIZE)).sender_id).toBe(dev.senderId);
    c.close();
  });

  it("refuses to start from a directory without index.html, and the config without a WebSocket listener", async () => {
    await expect(staticFiles({ root: join(root, "assets") })).rejects.toThrow(/no index.html/);
    await expect(staticFiles({ root: join(dir.path, "nope") })).rejects.toThrow(/no index.html/);
    const r = buildConfig({ web: { static_dir: root }, server: { websocket_listen: "" } }, {});
    expect(r.ok ? [] : r.issues.map((i) => i.key)).toEqual(["web.static_dir"]);
  });
});
