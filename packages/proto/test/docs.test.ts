/** docs/protocol.md must say what the code does: its tables are checked line by line. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HEADER_SIZE, MAGIC, Offset } from "../src/constants.js";
import { ErrorCode } from "../src/errors.js";
import { ALL_OPCODES, Flag, opcodeName } from "../src/opcodes.js";
import { OPCODE_TRAITS } from "../src/opcodeTraits.js";
import type { Codec } from "../src/payloads/schema.js";
import { PAYLOAD_SCHEMAS } from "../src/payloads/schemas.js";

const doc = readFileSync(join(import.meta.dirname, "../../../docs/protocol.md"), "utf8");
const rows = doc
  .split("\n")
  .filter((l) => l.startsWith("| "))
  .map((l) =>
    l
      .replaceAll("\\|", "\u0000")
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim().replaceAll("\u0000", "|")),
  );

describe("docs/protocol.md", () => {
  it("lists every opcode with its number and exact payload schema", () => {
    for (const op of ALL_OPCODES) {
      const hexOp = `0x${op.toString(16).padStart(4, "0")}`;
      const row = rows.find((r) => r[0] === hexOp);
      expect(row, hexOp).toBeDefined();
      expect(row![1]).toBe(opcodeName(op));
      expect(row![5]).toBe(`\`${(PAYLOAD_SCHEMAS[op] as Codec<unknown>).describe}\``);
    }
  });

  it("gives every opcode the family, sender and traits of OPCODE_TRAITS", () => {
    const directions = { client: "C→H", hub: "H→C", either: "either way", peer: "H" } as const;
    for (const op of ALL_OPCODES) {
      const t = OPCODE_TRAITS[op];
      const row = rows.find((r) => r[1] === opcodeName(op))!;
      expect(row[2], opcodeName(op)).toBe(t.family);
      expect(row[3]!.startsWith(directions[t.from]), opcodeName(op)).toBe(true);
      if (t.from === "peer") expect(row[3], opcodeName(op)).toContain("H′");
      const marks = [
        t.sequenced && "seq",
        t.roomScoped && "room",
        t.ephemeral && "eph",
        t.idempotent && "idem",
      ].filter(Boolean);
      expect(row[4], opcodeName(op)).toBe(marks.length === 0 ? "" : `\`${marks.join(" ")}\``);
    }
  });

  it("lists every error code with its number", () => {
    for (const [name, n] of Object.entries(ErrorCode)) {
      const row = rows.find((r) => r[1] === name);
      expect(row?.[0], name).toBe(String(n));
    }
  });

  it("has the header layout of the code", () => {
    const fields: [string, number][] = [
      ["magic", Offset.MAGIC],
      ["version", Offset.VERSION],
      ["flags", Offset.FLAGS],
      ["opcode", Offset.OPCODE],
      ["request_id", Offset.REQUEST_ID],
      ["room_id", Offset.ROOM_ID],
      ["sender_id", Offset.SENDER_ID],
      ["log_index", Offset.LOG_INDEX],
      ["hlc_timestamp", Offset.HLC_TIMESTAMP],
      ["epoch", Offset.EPOCH],
      ["payload_size", Offset.PAYLOAD_SIZE],
      ["signature", Offset.SIGNATURE],
    ];
    for (const [i, [name, off]] of fields.entries()) {
      const row = rows.find((r) => r[2] === name && r[0] === String(off));
      expect(row, name).toBeDefined();
      const next = fields[i + 1]?.[1] ?? HEADER_SIZE;
      expect(Number(row![1]), name).toBe(next - off);
    }
    expect(doc).toContain(`0x${MAGIC.toString(16).toUpperCase().replace("X", "x")}`);
    for (const [name, bit] of Object.entries(Flag)) {
      expect(
        rows.some((r) => r[2] === name && r[1] === `\`0x0${bit.toString(16)}\``),
        name,
      ).toBe(true);
    }
  });
});
