/**
 * Issue 12, "smaller": a client could set the FEDERATED flag and was treated normally.
 * Only hub-to-hub links may carry it; from a client it is refused FORBIDDEN (before the
 * change the flagged PING below was answered with a PONG).
 */
import { encodePayload, Flag, Opcode } from "@kalandra/proto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { errorName, pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";

let hub: SecurityHub;
let bystander: RawSession;

beforeAll(async () => {
  hub = await startHub();
  bystander = await RawSession.open(hub, "bystander");
});
afterAll(async () => {
  bystander?.close();
  await hub?.stop();
});

it("refuses a client frame flagged FEDERATED, and the bystander is still served", async () => {
  const s = await RawSession.open(hub, "mallory");
  for (const opcode of [Opcode.PING, Opcode.KP_CLAIM]) {
    const payload =
      opcode === Opcode.PING
        ? encodePayload(Opcode.PING, { nonce: 1 })
        : encodePayload(Opcode.KP_CLAIM, { user_id: "bystander" });
    const answer = await s.request({ opcode, flags: Flag.FEDERATED, payload });
    expect(errorName(answer)).toBe("FORBIDDEN");
  }
  await pingOk(bystander);
  s.close();
});
