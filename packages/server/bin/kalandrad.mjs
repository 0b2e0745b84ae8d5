#!/usr/bin/env node
// Runs the daemon from its TypeScript source through tsx, so the bin works in the
// workspace without a build step.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
