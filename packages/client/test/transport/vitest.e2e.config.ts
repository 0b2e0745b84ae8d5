/**
 * The restart scenario against a real kalandrad (e2e.scenario.ts), kept out of the default
 * suite while it is intermittent (see the file's header). Run it with
 * `pnpm --filter @kalandra/client exec vitest run --config test/transport/vitest.e2e.config.ts`
 * (set E2E_HUB_LOG=/tmp/hub.log to keep the hub's debug log).
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/transport/e2e.scenario.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
