/**
 * `pnpm bench attachments`: kalandrad as a child process, one client over WebTransport on
 * loopback, uploading and fetching blobs of 1 MB and 50 MB through the attachment protocol
 * (docs/protocol.md "Attachments": 256 KiB chunks, 16 in flight each way), against a
 * same-run baseline of the bare transport moving the same bytes: the same number of
 * chunk-sized frames through kalandrad's echo core (`--core echo`: session, signature
 * check and framing, no blob store), 16 in flight. The echo sends each frame back, so the
 * baseline moves the bytes both ways, as a fetch does (a small request, a chunk back) and
 * an upload does not (a chunk up, a small state back).
 *
 * Reports `upload_mb_per_s`, `fetch_mb_per_s` and `baseline_mb_per_s` per size (MB =
 * 10^6 bytes; median of the runs, baseline and attachment runs alternating) and each
 * ratio to the baseline. The client's BLAKE3 of a blob is computed before its upload is
 * timed. Goal: within 2×.
 * BENCH_QUICK=1: one 1 MB blob each way, seconds.
 */
import { randomBytes } from "node:crypto";
import { connectWebTransport } from "@kalandra/client";
import {
  BLOB_CHUNK_SIZE,
  blobIdOf,
  chunkLength,
  type DeviceSigner,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  Frame,
  generateDeviceKey,
  Opcode,
  type PayloadOf,
  systemRng,
} from "@kalandra/proto";
import { spawnHub } from "../loadgen/hub.js";
import { benchClient, benchDir, benchLog, cleanupBenchDirs, UNLIMITED_RATES } from "./_benchEnv.js";

const quick = process.env.BENCH_QUICK === "1";
const WINDOW = 16;
const log = benchLog("attachments");
const tmp = () => benchDir("attachments");
const unlimited = {
  ...UNLIMITED_RATES,
  KALANDRA_ATTACHMENTS__MAX_BLOB_BYTES: String(64 * 1024 * 1024),
  KALANDRA_ATTACHMENTS__USER_QUOTA_BYTES: String(4 * 1024 * 1024 * 1024),
};

interface Conn {
  send(f: Uint8Array): void;
  onFrame(cb: (f: Uint8Array) => void): void;
  close(): void;
}

/** Requests by request_id, answers matched to them; at most `WINDOW` in flight. */
class Requests {
  private next = 1_000_000;
  private readonly waiting = new Map<number, (f: Frame) => void>();
  constructor(
    private readonly conn: Conn,
    private readonly signer: DeviceSigner,
    private readonly roomId: bigint,
  ) {
    conn.onFrame((bytes) => {
      const f = Frame.fromWire(bytes);
      // Echo-core answers are the frame itself (no RESPONSE flag): match by request id.
      const w = this.waiting.get(f.header.requestId);
      if (w === undefined) return;
      this.waiting.delete(f.header.requestId);
      w(f);
    });
  }
  ask<Op extends Opcode>(opcode: Op, payload: PayloadOf<Op>): Promise<Frame> {
    const requestId = this.next++;
    const frame = encodeFrame(
      {
        opcode,
        requestId,
        roomId: this.roomId,
        senderId: deriveSenderId(this.signer.publicKey),
        epoch: 0n,
        payload: encodePayload(opcode, payload),
      },
      this.signer,
    );
    return new Promise((resolve) => {
      this.waiting.set(requestId, resolve);
      this.conn.send(frame);
    });
  }
}

/** Runs `count` jobs with at most WINDOW in flight, in order of start. */
async function windowed(count: number, job: (i: number) => Promise<void>): Promise<void> {
  let started = 0;
  const lane = async () => {
    while (started < count) await job(started++);
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, count) }, lane));
}

function fail(f: Frame): never {
  const e = decodePayload(Opcode.ERROR, f.payload);
  throw new Error(`hub refused: ${e.name}: ${e.message}`);
}

async function upload(r: Requests, blob: Uint8Array, id: Uint8Array): Promise<void> {
  const first = await r.ask(Opcode.BLOB_UPLOAD, { blob_id: id, size: blob.length });
  if (first.header.opcode !== Opcode.BLOB_UPLOAD_STATE) fail(first);
  const chunks = Math.ceil(blob.length / BLOB_CHUNK_SIZE);
  let complete = false;
  await windowed(chunks, async (i) => {
    const offset = i * BLOB_CHUNK_SIZE;
    const data = blob.subarray(offset, offset + chunkLength(blob.length, offset));
    const a = await r.ask(Opcode.BLOB_CHUNK, { blob_id: id, offset, data });
    if (a.header.opcode !== Opcode.BLOB_UPLOAD_STATE) fail(a);
    complete ||= decodePayload(Opcode.BLOB_UPLOAD_STATE, a.payload).complete;
  });
  if (!complete) throw new Error("upload did not complete");
}

async function fetchBlob(r: Requests, id: Uint8Array, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  await windowed(Math.ceil(size / BLOB_CHUNK_SIZE), async (i) => {
    const a = await r.ask(Opcode.BLOB_FETCH, { blob_id: id, offset: i * BLOB_CHUNK_SIZE });
    if (a.header.opcode !== Opcode.BLOB_DATA) fail(a);
    const d = decodePayload(Opcode.BLOB_DATA, a.payload);
    out.set(d.data, d.offset);
  });
  return out;
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** The bare transport: the echo core and one session to it. */
async function openBaseline(): Promise<{ r: Requests; close(): Promise<void> }> {
  const hub = await spawnHub(tmp(), unlimited, ["--core", "echo"]);
  const key = generateDeviceKey(systemRng);
  const conn = await connectWebTransport({
    url: hub.url,
    certHash: hub.certHash,
    deviceSigner: key.signer,
    userId: "bench",
    hubPublicKey: hub.hubKey,
  });
  return {
    r: new Requests(conn, key.signer, 1n),
    close: async () => {
      conn.close();
      await hub.stop();
    },
  };
}

/** Chunk-sized frames of `blob` through the echo core, WINDOW in flight: MB/s. */
async function baselineRun(r: Requests, blob: Uint8Array): Promise<number> {
  const t0 = performance.now();
  await windowed(Math.ceil(blob.length / BLOB_CHUNK_SIZE), async (i) => {
    const offset = i * BLOB_CHUNK_SIZE;
    const data = blob.subarray(offset, offset + chunkLength(blob.length, offset));
    await r.ask(Opcode.APP_MESSAGE, { generation: 0, ciphertext: data });
  });
  return mbps(blob.length, performance.now() - t0);
}

/** kalandrad with a room of one member, and a session of that member. */
async function openHub(): Promise<{ r: Requests; close(): Promise<void> }> {
  const hub = await spawnHub(tmp(), unlimited);
  const client = await benchClient(hub.hubKey, "alice", { keyPackageTarget: 1 });
  const conn = await connectWebTransport({
    url: hub.url,
    certHash: hub.certHash,
    deviceSigner: client.signer,
    userId: "alice",
    hubPublicKey: hub.hubKey,
  });
  await client.reconnect(conn);
  const roomId = await client.createRoom();
  return {
    r: new Requests(conn, client.signer, roomId),
    close: async () => {
      client.close();
      conn.close();
      await hub.stop();
    },
  };
}

/** One blob up and down: MB/s each way (the client's BLAKE3 of it is not timed). */
async function attachmentRun(r: Requests, blob: Uint8Array) {
  const id = blobIdOf(blob);
  let t0 = performance.now();
  await upload(r, blob, id);
  const up = mbps(blob.length, performance.now() - t0);
  // The reference that makes it readable: an APP_MESSAGE naming it (epoch 0, the
  // creator alone; its ciphertext is opaque to the hub).
  const ack = await r.ask(Opcode.APP_MESSAGE, {
    generation: 0,
    ciphertext: new Uint8Array(16),
    attachments: [id],
  });
  if (ack.header.opcode !== Opcode.ACK) fail(ack);
  t0 = performance.now();
  const back = await fetchBlob(r, id, blob.length);
  const down = mbps(blob.length, performance.now() - t0);
  if (!Buffer.from(back).equals(blob)) throw new Error("fetched blob differs");
  return { up, down };
}

const MB = 1_000_000;
const sizes = quick ? [1 * MB] : [1 * MB, 50 * MB];
const runs = quick ? 1 : 3;
const base = await openBaseline();
const real = await openHub();
try {
  const result: Record<string, unknown> = { quick, window: WINDOW, chunk_bytes: BLOB_CHUNK_SIZE };
  for (const size of sizes) {
    // Baseline and attachment runs alternate, so a load change on the shared machine
    // reaches both (the figures are ratios).
    const b: number[] = [];
    const ups: number[] = [];
    const downs: number[] = [];
    for (let run = 0; run < runs; run++) {
      const blob = new Uint8Array(randomBytes(size));
      b.push(await baselineRun(base.r, blob));
      const a = await attachmentRun(real.r, blob);
      ups.push(a.up);
      downs.push(a.down);
    }
    const [mb, mu, md] = [median(b), median(ups), median(downs)];
    log(
      `${size} B: baseline ${mb.toFixed(1)}, upload ${mu.toFixed(1)}, fetch ${md.toFixed(1)} MB/s`,
    );
    result[`${size / MB}mb`] = {
      upload_mb_per_s: Number(mu.toFixed(1)),
      fetch_mb_per_s: Number(md.toFixed(1)),
      baseline_mb_per_s: Number(mb.toFixed(1)),
      upload_vs_baseline: Number((mb / mu).toFixed(2)),
      fetch_vs_baseline: Number((mb / md).toFixed(2)),
    };
  }
  console.log(JSON.stringify(result));
} finally {
  await base.close();
  await real.close();
  cleanupBenchDirs();
}
