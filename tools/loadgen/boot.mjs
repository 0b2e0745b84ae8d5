// Worker bootstrap: a worker thread does not inherit tsx's loader hooks, so register them,
// then load the TypeScript worker (same pattern as packages/server/src/runtime/node/shards/workerBoot.mjs).
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
