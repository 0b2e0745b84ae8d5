/**
 * A load-generator worker thread: the clients of its share of the rooms (workers.ts). It
 * reports "ready" once its rooms are set up, starts sending on "go", and posts its raw
 * measurements back.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type LoadOptions, runLoadRaw } from "./loadgen.js";

const port = parentPort;
if (!port) throw new Error("worker.ts runs in a worker thread");
const o = (workerData as { options: LoadOptions }).options;
const go = new Promise<void>((resolve) => port.once("message", () => resolve()));
const raw = await runLoadRaw({
  ...o,
  log: (line) => port.postMessage({ kind: "log", line }),
  beforeSend: async () => {
    port.postMessage({ kind: "ready" });
    await go;
  },
});
port.postMessage({ kind: "done", raw });
