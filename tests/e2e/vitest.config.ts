/**
 * End-to-end suites against a real kalandrad child process. One file at a time: each
 * spawns its own hub, and the restart scenario's timings should not compete with another.
 * `E2E_HUB_LOG=/tmp/hub.log` keeps the hub's debug log.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
