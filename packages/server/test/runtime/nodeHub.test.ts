/**
 * kalandrad's hub (runtime/node/nodeHub.ts): the real HubHost and HubCore behind the
 * session layer, and the metrics its observer feeds. The limits themselves are tested
 * through the core (test/hub/roomLimits.test.ts), the routing on the host
 * (test/hub/hubHost.test.ts).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePayload, Flag, Opcode } from "@kalandra/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { Daemon } from "../../src/runtime/node/daemon.js";
import { createLogger } from "../../src/runtime/node/logger.js";
import { readHeader } from "../../src/runtime/node/wire.js";
import { authed, device, errorName, isOp, rawFrame } from "./helpers.js";

function config(dir: string, extra: Record<string, unknown> = {}): Config {
  const r = buildConfig({
    server: { listen: "127.0.0.1:0", websocket_listen: "127.0.0.1:0", log_level: "fatal" },
    database: { path: dir, sync: "none" },
    monitoring: { listen: "" },
    ...extra,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

describe("kalandrad with the hub core", () => {
  let d: Daemon;
  beforeAll(async () => {
    d = await Daemon.start({
      config: config(mkdtempSync(join(tmpdir(), "kalandra-hubcore-"))),
      log: createLogger("fatal"),
    });
  });
  afterAll(async () => {
    await d.shutdown("test");
  });

  it("routes frames to HubCore and its answers back to the session", async () => {
    const dev = device();
    const c = await authed(d.port, d.certHash, dev);
    // A ROOM_CREATE whose GroupInfo is not one: the core refuses it with a typed error.
    await c.send(
      rawFrame(
        dev,
        { opcode: Opcode.ROOM_CREATE, requestId: 10, roomId: 99n },
        encodePayload(Opcode.ROOM_CREATE, { group_info: new Uint8Array(40) }),
      ),
    );
    const err = await c.waitFor((f) => isOp(Opcode.ERROR)(f) && readHeader(f).requestId === 10);
    expect(readHeader(err).roomId).toBe(99n);
    expect(errorName(err)).toMatch(/INVALID|BAD/);
    // A key-package claim for a user without packages: answered by the core, not the runtime.
    await c.send(
      rawFrame(
        dev,
        { opcode: Opcode.KP_CLAIM, requestId: 11 },
        encodePayload(Opcode.KP_CLAIM, { user_id: "nobody" }),
      ),
    );
    const claim = await c.waitFor((f) => readHeader(f).requestId === 11);
    expect(readHeader(claim).flags & Flag.RESPONSE).toBe(Flag.RESPONSE);
    expect(d.ready).toBe(true);
    // The core's refusal is counted by code; the device is routed through the host.
    const text = await d.metrics.registry.metrics();
    expect(text).toMatch(
      new RegExp(`kalandra_frames_rejected_total\\{code="${errorName(err)}"\\} 1`),
    );
    expect(text).toMatch(/^kalandra_rooms 0$/m);
    expect(text).toMatch(/^kalandra_room_members 0$/m);
    expect(d.host.sessionsOf(dev.senderId)).toHaveLength(1);
    c.close();
  });
});
