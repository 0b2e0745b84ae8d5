// Worker bootstrap when running from TypeScript sources (tests, `tsx` daemon): a worker
// thread does not inherit the parent's loader hooks, so register tsx, then load the shard.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
