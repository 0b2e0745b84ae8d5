/**
 * Issue 12, "limits that do not hold": a PING with a 16 MiB non-schema payload was echoed
 * back signed, and every refused or rate-limited frame cost a hub signature (one replayed
 * PING × 200k = 36 CPU-seconds). Now a PING carries `{nonce}` and nothing else (anything
 * more is refused BAD_PAYLOAD), and ERROR frames go unsigned: their signature bytes are
 * zero. Before the change the first test got a PONG echoing the bytes, the second signed
 * RATE_LIMITED answers.
 */
import { encodePayload, Opcode } from "@kalandra/proto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { errorName, pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";

let hub: SecurityHub;
let bystander: RawSession;

beforeAll(async () => {
  hub = await startHub({
    env: { KALANDRA_LIMITS__CONNECTION_RATE: "50", KALANDRA_LIMITS__CONNECTION_BURST: "50" },
  });
  bystander = await RawSession.open(hub, "bystander");
});
afterAll(async () => {
  bystander?.close();
  await hub?.stop();
});

const unsigned = (sig: Uint8Array) => sig.every((b) => b === 0);

it("refuses a PING with a 1 MiB non-schema payload BAD_PAYLOAD, unsigned, echoing nothing", async () => {
  const s = await RawSession.open(hub, "mallory");
  // A valid {nonce} followed by 1 MiB: not the schema (trailing bytes).
  const valid = encodePayload(Opcode.PING, { nonce: 7 });
  const payload = new Uint8Array(valid.length + (1 << 20));
  payload.set(valid);
  const answer = await s.request({ opcode: Opcode.PING, payload });
  expect(errorName(answer)).toBe("BAD_PAYLOAD");
  expect(answer.payload.length).toBeLessThan(1024);
  expect(unsigned(answer.header.signature)).toBe(true);
  // A schema PING is answered with the re-encoded nonce, signed.
  const pong = await s.request({ opcode: Opcode.PING, payload: valid });
  expect(pong.header.opcode).toBe(Opcode.PONG);
  expect(pong.payload).toEqual(encodePayload(Opcode.PONG, { nonce: 7 }));
  expect(unsigned(pong.header.signature)).toBe(false);
  await pingOk(bystander);
  s.close();
});

it("answers a replayed PING beyond the rate limit with unsigned RATE_LIMITED errors", async () => {
  const s = await RawSession.open(hub, "replayer");
  const payload = encodePayload(Opcode.PING, { nonce: 1 });
  const n = 300;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(s.send({ opcode: Opcode.PING, payload }));
  const last = ids[ids.length - 1]!;
  await s.next((f) => f.header.requestId === last);
  // Everything up to the last answer has arrived (a session's frames are answered in order).
  const answers = s.frames.filter((f) => ids.includes(f.header.requestId));
  const limited = answers.filter((f) => errorName(f) === "RATE_LIMITED");
  expect(limited.length).toBeGreaterThan(n / 2);
  expect(limited.every((f) => unsigned(f.header.signature))).toBe(true);
  await pingOk(bystander);
  s.close();
});
