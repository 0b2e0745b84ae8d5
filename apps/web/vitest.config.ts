/**
 * The shared package configuration, except for coverage: the DOM modules (the page's
 * entry, the app controller, the connection and the views) run in Chromium in
 * test/browser.test.ts, where Node's v8 coverage cannot see them; the 80 % floor holds
 * for the modules tested in Node.
 */
import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.package.js";

export default mergeConfig(
  base,
  defineConfig({
    test: {
      coverage: {
        exclude: ["src/main.ts", "src/app.ts", "src/connection.ts", "src/media.ts", "src/ui/**"],
      },
    },
  }),
);
