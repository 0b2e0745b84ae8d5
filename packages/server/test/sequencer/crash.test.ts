/**
 * Crash test of the sequencer (issue 3): a child process sequences under load through the
 * hub core over LMDB with real fsyncs and is killed with SIGKILL at seeded random moments,
 * several rounds on the same directory. After each kill the directory is reopened: every
 * acknowledged frame is present and intact at the index its ACK named, the log has no
 * gap, and the reopened hub continues at the next index.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createDeviceSigner,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  Frame,
  Opcode,
  systemClock,
  systemRng,
  systemTimers,
} from "@kalandra/proto";
import { seededRng, tempDir } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { HubCore } from "../../src/hub/hubCore.js";
import { publicGroupViews } from "../../src/sequencer/publicGroupViews.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { createRoom, device, groupInfoBytes, suite } from "../mls/mlsClients.js";
import { runUntilKilled } from "../support/killedChild.js";
import { crashPayload } from "./crashPayload.js";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = tempDir("seq-crash");
const dir = tmp.path;
afterAll(() => tmp.cleanup());
const ROOM = 4242n;
const ROUNDS = 4;

/** Deterministic "random" kill moments (fixed seed: a failure replays). */
function killTimes(seed: number, n: number): number[] {
  const rng = seededRng(`kill-times/${seed}`);
  return Array.from({ length: n }, () => 150 + rng.below(600));
}

async function runChild(
  seedHex: string,
  first: number,
  workMs: number,
): Promise<[bigint, number][]> {
  const lines = await runUntilKilled({
    script: join(here, "crashChild.ts"),
    args: [dir, String(ROOM), seedHex, String(first)],
    workMs,
    readyTimeoutMs: 30_000,
  });
  return lines
    .filter((l) => l.startsWith("ack "))
    .map((l) => {
      const [, i, r] = l.split(" ");
      return [BigInt(i!), Number(r)] as [bigint, number];
    });
}

/** A stored frame as one wire frame (no erasures in this test: payloads are present). */
function whole(f: { header: Uint8Array; payload: Uint8Array | null }): Frame {
  const out = new Uint8Array(f.header.length + (f.payload?.length ?? 0));
  out.set(f.header);
  if (f.payload !== null) out.set(f.payload, f.header.length);
  return Frame.fromWire(out);
}

describe("sequencer crash (SIGKILL under load)", () => {
  it("keeps every acknowledged frame, intact and without gaps, across kills", async () => {
    // The room: one member, created through the hub core.
    const cs = await suite();
    const alice = await device(cs, "alice");
    const seed = alice.privatePackage.signaturePrivateKey.subarray(-32);
    const signer = createDeviceSigner(seed);
    {
      const storage = await openLmdbStorage({ path: dir });
      const hub = await HubCore.open({
        storage,
        clock: systemClock,
        rng: systemRng,
        timers: systemTimers(),
        hubSigner: createDeviceSigner(new Uint8Array(32).fill(9)),
        sink: () => {},
        groups: publicGroupViews(),
      });
      hub.attachSession("s", signer.publicKey, "alice");
      const state = await createRoom(
        cs,
        { publicKey: new Uint8Array(32), signKey: new Uint8Array(32) },
        alice,
        ROOM,
      );
      const senderId = deriveSenderId(signer.publicKey);
      await hub.handleFrame(
        "s",
        senderId,
        encodeFrame(
          {
            opcode: Opcode.ROOM_CREATE,
            requestId: 1,
            roomId: ROOM,
            senderId,
            epoch: 0n,
            payload: encodePayload(Opcode.ROOM_CREATE, {
              group_info: await groupInfoBytes(cs, state),
            }),
          },
          signer,
        ),
      );
      expect(storage.nextIndex(ROOM)).toBe(1n);
      await hub.close();
      await storage.close();
    }
    const acked = new Map<bigint, number>();
    let totalAcks = 0;
    for (const [round, ms] of killTimes(20261123, ROUNDS).entries()) {
      const acks = await runChild(Buffer.from(seed).toString("hex"), 1_000_000 * (round + 1), ms);
      totalAcks += acks.length;
      for (const [i, r] of acks) acked.set(i, r);
      const storage = await openLmdbStorage({ path: dir });
      try {
        const head = storage.nextIndex(ROOM);
        const log = storage.readRange(ROOM, 0n, Number(head));
        // No gap: indexes 0..head-1, each header stamped with its own index.
        expect(log.map((f) => f.logIndex)).toEqual(
          Array.from({ length: Number(head) }, (_, i) => BigInt(i)),
        );
        for (const f of log) expect(whole(f).header.logIndex).toBe(f.logIndex);
        // Every acknowledged frame is there, at its index, with its payload intact.
        for (const [i, r] of acked) {
          const f = log[Number(i)];
          expect(f, `acked index ${i}`).toBeDefined();
          const h = whole(f!).header;
          expect(h.requestId).toBe(r);
          expect(decodePayload(Opcode.APP_MESSAGE, f!.payload!)).toEqual(crashPayload(r));
        }
      } finally {
        await storage.close();
      }
    }
    expect(totalAcks).toBeGreaterThan(ROUNDS * 10);
  }, 180_000);
});
