#!/usr/bin/env node
// Development launcher (not published): runs the daemon from its TypeScript source through
// tsx, so tests and tools in the workspace need no build step. The published package's
// bin is the compiled dist/cli/main.js (package.json publishConfig.bin), and the root
// `pnpm kalandrad` script builds and runs that.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
