/**
 * Runs the load generator's clients in worker threads, each owning whole rooms and its share
 * of the rate. Every worker sets its rooms up first; the sending phases start together, and
 * the process CPU of that phase is measured here (a worker only sees the whole process).
 */
import { Worker } from "node:worker_threads";
import type { LoadOptions, RawLoad } from "./loadgen.js";

const entry = new URL(
  import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js",
  import.meta.url,
);

export async function runInWorkers(o: LoadOptions, count: number): Promise<RawLoad[]> {
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  const done: Promise<RawLoad>[] = [];
  let offset = o.roomOffset ?? 0;
  for (let i = 0; i < count; i++) {
    const rooms = Math.floor(o.rooms / count) + (i < o.rooms % count ? 1 : 0);
    const { log: _log, beforeSend: _before, ...plain } = o;
    const options: LoadOptions = {
      ...plain,
      rooms,
      roomOffset: offset,
      rate: (o.rate * rooms) / o.rooms,
      workers: 1,
    };
    offset += rooms;
    const w = entry.pathname.endsWith(".ts")
      ? new Worker(new URL("./boot.mjs", import.meta.url), {
          workerData: { options, entry: entry.href },
        })
      : new Worker(entry, { workerData: { options } });
    workers.push(w);
    let onReady: () => void = () => undefined;
    ready.push(new Promise((r) => (onReady = r)));
    done.push(
      new Promise((resolve, reject) => {
        w.on("error", reject);
        w.on("exit", (code) => reject(new Error(`load worker ${i} exited with ${code}`)));
        w.on("message", (m: { kind: string; line?: string; raw?: RawLoad }) => {
          if (m.kind === "log") o.log?.(`[w${i}] ${m.line}`);
          else if (m.kind === "ready") onReady();
          else if (m.kind === "done" && m.raw) resolve(m.raw);
        });
      }),
    );
  }
  try {
    await Promise.race([Promise.all(ready), Promise.all(done)]);
    await o.beforeSend?.();
    const cpu0 = process.cpuUsage();
    for (const w of workers) w.postMessage("go");
    const raws = await Promise.all(done);
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    return raws.map((r) => ({ ...r, cpuS: cpuS / raws.length }));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
