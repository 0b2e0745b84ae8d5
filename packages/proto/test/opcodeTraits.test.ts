import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ALL_OPCODES, Opcode, opcodeName } from "../src/opcodes.js";
import {
  isEphemeral,
  isIdempotent,
  isOpcode,
  isRoomRequest,
  isRoomScoped,
  isSequenced,
  maySend,
  OPCODE_TRAITS,
  opcodeTraits,
} from "../src/opcodeTraits.js";
import { fcParams } from "./helpers.js";

describe("the opcode trait table", () => {
  it("covers every opcode, and nothing else", () => {
    expect(
      Object.keys(OPCODE_TRAITS)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual([...ALL_OPCODES]);
    for (const op of ALL_OPCODES) expect(opcodeTraits(op), opcodeName(op)).toBeDefined();
  });

  it("answers the predicates exactly as the table says", () => {
    for (const op of ALL_OPCODES) {
      const t = OPCODE_TRAITS[op];
      const name = opcodeName(op);
      expect(isOpcode(op), name).toBe(true);
      expect(isSequenced(op), name).toBe(t.sequenced);
      expect(isRoomScoped(op), name).toBe(t.roomScoped);
      expect(isEphemeral(op), name).toBe(t.ephemeral);
      expect(isIdempotent(op), name).toBe(t.idempotent);
      expect(maySend(op, "client"), name).toBe(t.from === "client" || t.from === "either");
      expect(maySend(op, "hub"), name).toBe(t.from === "hub" || t.from === "either");
      expect(maySend(op, "peer"), name).toBe(t.from === "peer");
      expect(isRoomRequest(op), name).toBe(t.roomScoped && maySend(op, "client"));
    }
  });

  it("keeps the rules that hold between traits (DESIGN §3, §4)", () => {
    for (const op of ALL_OPCODES) {
      const t = OPCODE_TRAITS[op];
      const name = opcodeName(op);
      // A log entry belongs to a room; an ephemeral frame is never in the log.
      if (t.sequenced) expect(t.roomScoped, name).toBe(true);
      if (t.ephemeral) expect(t.sequenced, name).toBe(false);
      // Idempotency is the sequencer's record of a client's sequenced request.
      if (t.idempotent) expect(t.sequenced && maySend(op, "client"), name).toBe(true);
      expect(t.family === "ephemeral", name).toBe(t.ephemeral);
    }
    expect(isSequenced(Opcode.REDACTION)).toBe(true); // the hub's notice is a log entry
    expect(isRoomRequest(Opcode.KICK)).toBe(false); // served by moderation, not the room
    expect(maySend(Opcode.PROPOSAL, "hub")).toBe(true); // external (removal) proposals
  });

  it("property: an undefined number has no traits and every predicate is false", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -1e6, max: 1e6 }), fc.double(), fc.constant(Number.NaN)),
        (n) => {
          fc.pre(!(ALL_OPCODES as readonly number[]).includes(n));
          expect(opcodeTraits(n)).toBeUndefined();
          expect(isOpcode(n)).toBe(false);
          for (const p of [isSequenced, isRoomScoped, isEphemeral, isIdempotent, isRoomRequest]) {
            expect(p(n)).toBe(false);
          }
          expect(maySend(n, "client") || maySend(n, "hub") || maySend(n, "peer")).toBe(false);
        },
      ),
      fcParams(500),
    );
  });
});
