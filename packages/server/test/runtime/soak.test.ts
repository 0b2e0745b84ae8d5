import { expect, it } from "vitest";
import { app, authed, device, hubPerFile } from "./helpers.js";

const FRAMES = Number(process.env.SOAK_FRAMES ?? 50_000);
const PAYLOAD = 1000;
const hub = hubPerFile({ maxPayloadBytes: 1 << 20 });

it(`carries ${FRAMES} frames over one session without a stall`, { timeout: 120_000 }, async () => {
  let received = 0;
  let bytes = 0;
  // Count what the hub core sees; answer every 1000th frame so the client can pace itself.
  hub.core.onFrame = (sessionId, frame) => {
    received++;
    bytes += 128 + frame.payload.length;
    if (received % 1000 === 0 || received === FRAMES) hub.core.reply(sessionId, frame.toWire());
  };
  const dev = device();
  const c = await authed(hub.port, hub.certHash, dev);
  const distinct = Array.from({ length: 64 }, (_, i) => app(dev, i, PAYLOAD, 1n));
  const t0 = Date.now();
  const batch = 500;
  for (let sent = 0; sent < FRAMES; sent += batch) {
    const n = Math.min(batch, FRAMES - sent);
    await c.send(
      Buffer.concat(
        Array.from({ length: n }, (_, j) => distinct[(sent + j) % distinct.length] as Uint8Array),
      ),
    );
    // Keep at most ~4 batches in flight so a stall shows up as a timeout, not as buffering.
    if (sent - received > 4 * batch)
      await c.waitFor(() => received >= sent - 2 * batch, 20_000, c.frames.length - 1);
  }
  const deadline = Date.now() + 60_000;
  while (received < FRAMES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const ms = Date.now() - t0;
  expect(received).toBe(FRAMES);
  expect(bytes).toBeGreaterThan(FRAMES * PAYLOAD);
  console.log(
    JSON.stringify({
      soak_frames: FRAMES,
      soak_mb: +(bytes / 1048576).toFixed(1),
      ms,
      frames_per_s: Math.round(FRAMES / (ms / 1000)),
    }),
  );
  expect(c.closed).toBe(false);
  c.close();
});
