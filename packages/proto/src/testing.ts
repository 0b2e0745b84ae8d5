/**
 * `@kalandra/proto/testing`: switches for the simulation harness and tests, kept out of
 * the package's main entry so production code cannot reach them.
 *
 * @example
 * import { setCanaries } from "@kalandra/proto/testing";
 * setCanaries(["ack_before_fsync"]); // one run with a planted bug (DESIGN §8)
 */
export { setCanaries } from "./canary.js";
