/**
 * @kalandra/test-support — private helpers for the packages' test suites (never shipped):
 * replayable randomness, temporary directories, free loopback ports, a virtual clock and
 * polling that fails loudly instead of sleeping, kalandrad as a child process.
 *
 * @example
 * import { ManualTime, pollUntil, seededRng } from "@kalandra/test-support";
 * const time = new ManualTime();
 * const rng = seededRng("my-test");
 * await pollUntil(() => done, time, "the retry fires", { stepMs: 100 });
 */
export { writeHubKey } from "./hubKey.js";
export { type Kalandrad, type KalandradOptions, startKalandrad } from "./kalandrad.js";
export { ManualTime, type ManualTimerHandle } from "./manualTime.js";
export {
  type PollOptions,
  pollUntil,
  type VirtualClock,
  type WaitOptions,
  waitUntil,
  within,
} from "./poll.js";
export { freePort } from "./ports.js";
export { type SeededRng, seededBytes, seededRng } from "./rng.js";
export { type TempDir, tempDir } from "./tempDir.js";
