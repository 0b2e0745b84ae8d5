// Front process bootstrap when running from TypeScript sources (tests, `tsx` daemon): a
// forked process does not inherit the parent's loader hooks, so register tsx, then load the
// front (same pattern as shards/workerBoot.mjs).
import { register } from "tsx/esm/api";

register();
await import(process.env.KALANDRA_WS_FRONT_ENTRY);
