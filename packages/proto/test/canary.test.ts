import { afterEach, describe, expect, it } from "vitest";
import { canary } from "../src/index.js";
import { setCanaries } from "../src/testing.js";

describe("canary flags", () => {
  afterEach(() => setCanaries([]));

  it("are all off unless the harness switches them on", () => {
    expect(canary("ack_before_fsync")).toBe(false);
    setCanaries(["ack_before_fsync"]);
    expect(canary("ack_before_fsync")).toBe(true);
    expect(canary("dedupe_forgets")).toBe(false);
    setCanaries([]);
    expect(canary("ack_before_fsync")).toBe(false);
  });
});
