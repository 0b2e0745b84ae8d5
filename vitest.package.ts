/**
 * The one vitest configuration every package shares: tests under test/, v8 line coverage
 * of src/ held at 80 % or more (the roadmap's floor), generous timeouts for the MLS and
 * LMDB suites on a 2-core machine.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      thresholds: { lines: 80 },
      reporter: ["text-summary"],
    },
  },
});
