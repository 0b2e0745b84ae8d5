/**
 * Which folders are cores and which are runtimes, per package, and the known violations
 * still being removed. docs/architecture.md ("Folders and what they may import") is the
 * prose version of this table; keep the two together.
 */
import type { Allowed, PackageLayers } from "./check.js";

export const PACKAGES: PackageLayers[] = [
  {
    src: "packages/proto/src",
    layer: "core",
    overrides: {
      "node/": "runtime",
      "index.ts": "runtime",
      // The platform's CSPRNG (`#platform/random`), for node/system.ts's systemRng only.
      "platform/node/random.ts": "runtime",
      "platform/web/random.ts": "runtime",
    },
  },
  {
    src: "packages/server/src",
    layer: "core",
    overrides: {
      "runtime/": "runtime", // the Node runtime: sockets, threads, files, wall clock
      "cli/": "runtime", // kalandrad's command line: argv, exit codes, stdout
      "config/": "runtime", // configuration read from files and the environment
      "storage/lmdb/": "runtime", // the LMDB implementation of Storage (files, fsync)
      "index.ts": "runtime", // the package entry exports cores and runtimes alike
    },
    clients: ["moderation/"],
  },
  {
    src: "packages/client/src",
    layer: "core",
    overrides: {
      "transport/": "runtime", // WebTransport, reconnect timers
      "crypto/": "runtime", // the ts-mls provider, handed to the cores as `cs`
      // The platform's sockets and sessions (`#platform/webSocket`, `#platform/webTransport`)
      // and MLS signing keys (`#platform/signing`: WebCrypto in browsers, asynchronous; only
      // crypto/ uses it); the rest of platform/ is deterministic crypto the cores may use.
      "platform/node/signing.ts": "runtime",
      "platform/web/signing.ts": "runtime",
      "platform/node/webSocket.ts": "runtime",
      "platform/node/webTransport.ts": "runtime",
      "platform/web/webSocket.ts": "runtime",
      "platform/web/webTransport.ts": "runtime",
      "index.ts": "runtime",
    },
  },
  {
    // The harness is the simulation runtime (DESIGN §2, §8): it may use Node modules (temp
    // directories for the real LMDB code) but must stay deterministic. guards.ts (which
    // forbids the ambient globals to the cores) and host.ts (waiting for real I/O, wall
    // time for reports) are the modules that touch the host.
    src: "packages/harness/src",
    layer: "deterministic",
    overrides: { "guards.ts": "runtime", "host.ts": "runtime" },
  },
  {
    // Test-only helpers, never shipped: temp dirs, free ports and real-time waits touch the host.
    src: "packages/test-support/src",
    layer: "runtime",
    overrides: {},
  },
];

/**
 * Known violations, each removed by a named task of issue 11. The check fails on any
 * violation not listed here and on any entry that no longer matches, so this list only
 * shrinks: delete an entry in the change that fixes it.
 */
export const ALLOWED: Allowed[] = [];
