/**
 * The examples run as their users would run them, against a real kalandrad child process:
 * one file at a time, each with its own hub.
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
