/**
 * Issue 12, "key packages can be drained" (the rate): anyone could claim a user's key
 * packages as fast as the device rate allowed. Now claims are rate-limited per claiming
 * user and per target user (`limits.kp_claims_per_min_per_claimer`, `..._per_target`),
 * refused CLAIM_RATE_LIMITED, while a bystander's claims of other users go on.
 */
import { encodePayload, Opcode } from "@kalandra/proto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { errorName, pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";

let hub: SecurityHub;
let bystander: RawSession;

beforeAll(async () => {
  hub = await startHub({
    env: {
      KALANDRA_LIMITS__KP_CLAIMS_PER_MIN_PER_CLAIMER: "6",
      KALANDRA_LIMITS__KP_CLAIMS_PER_MIN_PER_TARGET: "3",
    },
  });
  bystander = await RawSession.open(hub, "bystander");
});
afterAll(async () => {
  bystander?.close();
  await hub?.stop();
});

const claim = async (s: RawSession, user: string) =>
  errorName(
    await s.request({
      opcode: Opcode.KP_CLAIM,
      payload: encodePayload(Opcode.KP_CLAIM, { user_id: user }),
    }),
  );

it("refuses claims of one target past its rate, whoever claims; others' claims go on", async () => {
  const mallory = await RawSession.open(hub, "mallory");
  const helper = await RawSession.open(hub, "mallory-helper");
  const answers = [];
  for (let i = 0; i < 3; i++) answers.push(await claim(mallory, "victim"));
  // "victim" has no key packages: admitted claims find none.
  expect(answers).toEqual(["NO_KEY_PACKAGE", "NO_KEY_PACKAGE", "NO_KEY_PACKAGE"]);
  expect(await claim(mallory, "victim")).toBe("CLAIM_RATE_LIMITED");
  expect(await claim(helper, "victim")).toBe("CLAIM_RATE_LIMITED"); // another claimer too
  expect(await claim(bystander, "carol")).toBe("NO_KEY_PACKAGE"); // another target is served
  // Visible to the operator: the refusals are logged (and counted by code in /metrics).
  await expect
    .poll(() => hub.log(), { timeout: 5000 })
    .toContain("key-package claims refused over the rate limit");
  await pingOk(bystander);
  mallory.close();
  helper.close();
});

it("refuses a claimer past its own rate over every target; a bystander is unaffected", async () => {
  const drainer = await RawSession.open(hub, "drainer");
  const answers = [];
  for (let i = 0; i < 7; i++) answers.push(await claim(drainer, `target-${i}`));
  expect(answers.slice(0, 6)).toEqual(Array(6).fill("NO_KEY_PACKAGE"));
  expect(answers[6]).toBe("CLAIM_RATE_LIMITED");
  expect(await claim(bystander, "target-6")).toBe("NO_KEY_PACKAGE");
  await pingOk(bystander);
  drainer.close();
});
