/**
 * The hub's frame signer with an asynchronous path (docs/performance.md "Sequencer").
 *
 * Every sequenced frame is answered by a hub-signed ACK (docs/contracts.md "Frames"). An
 * Ed25519 signature costs ~40 µs of CPU with node:crypto; signed synchronously it was the
 * largest single cost of the sequencing thread. node:crypto's `sign(null, data, key,
 * callback)` would run it on libuv's thread pool, but one job per signature costs the
 * calling thread a few µs each and four pool threads crowd a two-core machine; a single
 * signing thread fed one message per burst costs well under a microsecond per signature.
 * The ACKs of the next batch are signed on another core while the current batch is
 * being made durable.
 * The signature is the same (Ed25519 is deterministic, RFC 8032 §5.1.6); only where the
 * CPU time is spent changes. The sequencer still acknowledges a frame only after its
 * batch is durable, and a batch is written only once all of its ACKs are signed.
 * The core side (the interface, `signFrameInPlace`) is sequencer/frameSigner.ts.
 */
import { type KeyObject, sign } from "node:crypto";
import { Worker } from "node:worker_threads";
import { ed25519PrivateKeyObject, ed25519RawPublicKey } from "@kalandra/proto/node";
import type { AsyncFrameSigner, SignCallback } from "../../../sequencer/frameSigner.js";

/** Signatures per message to the signing thread when a burst is long. */
const CHUNK = Number(process.env.KALANDRA_SIGN_CHUNK ?? 64);

/**
 * The signing thread: receives batches `{id, data, ends}` (the messages concatenated, each
 * ending at `ends[i]`) and answers `{id, sigs}` with 64 bytes per message, in order. Plain
 * JavaScript so it runs the same from sources (tsx) and from the build.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { sign } = require("node:crypto");
const key = workerData.key;
parentPort.on("message", ({ id, data, ends }) => {
  const sigs = new Uint8Array(64 * ends.length);
  let at = 0;
  try {
    for (let i = 0; i < ends.length; i++) {
      sigs.set(sign(null, data.subarray(at, ends[i]), key), 64 * i);
      at = ends[i];
    }
    parentPort.postMessage({ id, sigs }, [sigs.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.message || e) });
  }
});
`;

/**
 * An async-capable signer for an Ed25519 key: a 32-byte seed or a node:crypto private
 * KeyObject. The key is imported once (KeyObject), never per signature. `signAsync`
 * collects the requests of one synchronous burst and hands them to one signing thread as
 * one message; the thread signs them in a row and answers with all signatures at once, so
 * the calling thread pays a fraction of a microsecond per signature instead of ~40 µs.
 */
export function createHubSigner(key: Uint8Array | KeyObject): AsyncFrameSigner {
  const privateKey = key instanceof Uint8Array ? ed25519PrivateKeyObject(key) : key;
  const publicKey = ed25519RawPublicKey(privateKey);
  const syncSign = (data: Uint8Array): Uint8Array => {
    const sig = sign(null, data, privateKey);
    return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
  };

  let worker: Worker | undefined;
  let closed = false;
  let nextId = 1;
  /** Requests of the current burst, posted together at the end of it (a microtask). */
  let burst: { data: Uint8Array; cb: SignCallback }[] = [];
  const sent = new Map<number, { data: Uint8Array; cb: SignCallback }[]>();
  const thread = (): Worker => {
    if (worker !== undefined) return worker;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { key: privateKey } });
    w.unref(); // kept alive only while it has work (below)
    w.on("message", (m: { id: number; sigs?: Uint8Array; error?: string }) => {
      const reqs = sent.get(m.id) ?? [];
      sent.delete(m.id);
      if (sent.size === 0) w.unref();
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i] as { data: Uint8Array; cb: SignCallback };
        if (m.sigs !== undefined) r.cb(null, m.sigs.subarray(64 * i, 64 * (i + 1)));
        else r.cb(new Error(m.error ?? "signing thread failed"));
      }
    });
    w.on("error", (e) => {
      // The thread is gone: everything it had is signed here, later requests too.
      worker = undefined;
      closed = true;
      for (const reqs of sent.values()) for (const r of reqs) r.cb(e);
      sent.clear();
    });
    worker = w;
    return w;
  };
  const post = (): void => {
    if (burst.length === 0) return; // already posted as a full chunk
    const reqs = burst;
    burst = [];
    if (closed) {
      for (const r of reqs) r.cb(new Error("signer closed"));
      return;
    }
    let total = 0;
    for (const r of reqs) total += r.data.length;
    const data = new Uint8Array(total);
    const ends = new Uint32Array(reqs.length);
    let at = 0;
    for (let i = 0; i < reqs.length; i++) {
      const d = (reqs[i] as { data: Uint8Array }).data;
      data.set(d, at);
      at += d.length;
      ends[i] = at;
    }
    const id = nextId++;
    sent.set(id, reqs);
    const w = thread();
    if (sent.size === 1) w.ref();
    w.postMessage({ id, data, ends }, [data.buffer, ends.buffer]);
  };

  return {
    publicKey,
    sign: syncSign,
    signAsync(data, cb): void {
      burst.push({ data, cb });
      if (burst.length === 1) queueMicrotask(post);
      // A long burst goes out in chunks, so the signing thread starts on its first ACKs
      // while this thread is still sequencing the rest.
      else if (burst.length >= CHUNK) post();
    },
    async close(): Promise<void> {
      closed = true;
      const w = worker;
      worker = undefined;
      if (w !== undefined) await w.terminate();
      for (const reqs of sent.values()) for (const r of reqs) r.cb(new Error("signer closed"));
      sent.clear();
    },
  };
}
