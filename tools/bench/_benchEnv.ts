/**
 * What every bench suite that starts hubs shares: its temporary directories (removed with
 * `cleanupBenchDirs()` at the end), its stderr log prefix, the hub environment that
 * lifts the per-session and per-device rate limits (a bench measures the hub, not its
 * limits), and a client core to connect to such a hub.
 */
import {
  getKalandraCiphersuiteImpl,
  KalandraClient,
  MemoryStore,
  type RequestPolicy,
} from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";
import { type TempDir, tempDir } from "@kalandra/test-support";

/** kalandrad environment: session and device rate limits out of the way. */
export const UNLIMITED_RATES: Readonly<Record<string, string>> = {
  KALANDRA_LIMITS__CONNECTION_RATE: "10000000",
  KALANDRA_LIMITS__CONNECTION_BURST: "10000000",
  KALANDRA_LIMITS__DEVICE_RATE: "10000000",
  KALANDRA_LIMITS__DEVICE_BURST: "10000000",
};

const dirs: TempDir[] = [];

/** A fresh temporary directory named after the suite, removed by `cleanupBenchDirs()`. */
export function benchDir(suite: string): string {
  const d = tempDir(`bench-${suite}`);
  dirs.push(d);
  return d.path;
}

export function cleanupBenchDirs(): void {
  for (const d of dirs.splice(0)) d.cleanup();
}

/** A suite's progress lines on stderr (stdout's last line is its JSON figure). */
export function benchLog(suite: string): (line: string) => void {
  return (line) => process.stderr.write(`[${suite}] ${line}\n`);
}

/**
 * A client core of `userId` on the process's clock, randomness and timers, keeping its
 * state in memory, for a hub whose key is `hubPublicKey`; connect it with `reconnect`.
 */
export function benchClient(
  hubPublicKey: Uint8Array,
  userId: string,
  o: { keyPackageTarget: number; requestPolicy?: Partial<RequestPolicy> },
): Promise<KalandraClient> {
  return KalandraClient.open({
    connection: { send: () => undefined, onFrame: () => undefined, close: () => undefined },
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId,
    ...o,
  });
}
