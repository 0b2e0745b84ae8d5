/**
 * The security regression suite (issue 12): each file starts its own kalandrad child process
 * and replays attacks over raw frames. One file at a time, so the hubs do not compete for
 * the two cores. `SECURITY_HUB_LOG=/tmp/hub.log` keeps the hub's debug log.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
