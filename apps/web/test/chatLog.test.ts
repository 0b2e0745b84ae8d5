import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChatLog, type Content } from "../src/chatLog.js";

const text = (body: string): Content => ({ t: "text", body });

describe("ChatLog", () => {
  it("shows messages, replies, edits by their author and reactions that toggle", () => {
    const log = new ChatLog();
    log.applyMessage(1n, "alice", 1000, text("hi"));
    log.applyMessage(2n, "bob", 2000, { t: "reply", target: 1n, body: "hello" });
    log.applyMessage(3n, "bob", 3000, { t: "edit", target: 1n, body: "bob may not edit this" });
    log.applyMessage(4n, "alice", 4000, { t: "edit", target: 1n, body: "hi all" });
    log.applyMessage(5n, "bob", 5000, { t: "reaction", target: 1n, emoji: "👍" });
    log.applyMessage(6n, "alice", 6000, { t: "reaction", target: 1n, emoji: "👍" });
    log.applyMessage(7n, "bob", 7000, { t: "reaction", target: 1n, emoji: "👍" });
    const [first, reply] = log.messages();
    expect(first).toMatchObject({ body: "hi all", edited: true, reactions: { "👍": ["alice"] } });
    expect(reply).toMatchObject({ sender: "bob", body: "hello", replyTo: "1" });
    log.applyMessage(8n, "alice", 8000, { t: "reaction", target: 1n, emoji: "👍" });
    expect(log.message("1")?.reactions).toEqual({});
  });

  it("a redaction empties the message, before or after it arrived, and it stays redacted", () => {
    const log = new ChatLog();
    log.applyMessage(1n, "alice", 1, text("secret"));
    log.applyRedaction(1n);
    log.applyMessage(2n, "alice", 2, { t: "edit", target: 1n, body: "back again?" });
    log.applyMessage(3n, "bob", 3, { t: "reaction", target: 1n, emoji: "❤️" });
    expect(log.message("1")).toMatchObject({ redacted: true, body: "", reactions: {} });
    log.applyRedaction(9n);
    log.applyMessage(9n, "bob", 9, text("erased before it was shown"));
    expect(log.message("9")).toMatchObject({ redacted: true, body: "" });
  });

  it("shows a file under its name; its author cannot edit it; a redaction drops its key", () => {
    const log = new ChatLog();
    const file = { hash: "aa", key: "bb", size: 3, mime: "text/plain", name: "notes.txt" };
    log.applyMessage(1n, "alice", 1, { t: "attachment", file });
    log.applyMessage(2n, "alice", 2, { t: "edit", target: 1n, body: "renamed" });
    log.applyMessage(3n, "bob", 3, {
      t: "attachment",
      file: { hash: "cc", key: "dd", size: 1, mime: "a/b" },
    });
    expect(log.message("1")).toMatchObject({ body: "notes.txt", attachment: file });
    expect(log.message("1")?.edited).toBeUndefined();
    expect(log.message("3")?.body).toBe("file");
    log.applyRedaction(1n);
    expect(log.message("1")?.attachment).toBeUndefined();
    expect(JSON.stringify(log.message("1"))).not.toContain("bb");
  });

  it("ignores repeats at or below the last log index, and edits of unknown messages", () => {
    const log = new ChatLog();
    log.applyMessage(2n, "alice", 1, text("two"));
    log.applyMessage(2n, "alice", 1, text("two again"));
    log.applyMessage(1n, "alice", 1, text("older"));
    log.applyMessage(3n, "alice", 1, { t: "edit", target: 42n, body: "nothing" });
    log.applyMessage(4n, "bob", 1, { t: "other", what: "an attachment" });
    expect(log.messages().map((m) => m.body)).toEqual(["two"]);
    expect(log.entries.at(-1)).toEqual({
      kind: "notice",
      key: "m4",
      text: "bob sent an attachment (not shown here)",
    });
  });

  it("notices with the same key appear once", () => {
    const log = new ChatLog();
    log.notice("add/1/bob", "bob joined the room");
    log.notice("add/1/bob", "bob joined the room");
    expect(log.entries).toHaveLength(1);
  });

  it("survives a JSON round trip: the reloaded log applies the rest of the log alike", () => {
    const content = fc.oneof(
      fc.string({ maxLength: 8 }).map((body): Content => ({ t: "text", body })),
      fc
        .record({ target: fc.bigInt({ min: 0n, max: 12n }), body: fc.string({ maxLength: 8 }) })
        .map((r): Content => ({ t: "edit", ...r })),
      fc
        .record({ target: fc.bigInt({ min: 0n, max: 12n }), body: fc.string({ maxLength: 8 }) })
        .map((r): Content => ({ t: "reply", ...r })),
      fc
        .record({ target: fc.bigInt({ min: 0n, max: 12n }), emoji: fc.constantFrom("a", "b") })
        .map((r): Content => ({ t: "reaction", ...r })),
    );
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("msg" as const),
        sender: fc.constantFrom("alice", "bob"),
        content,
      }),
      fc.record({ kind: fc.constant("redact" as const), at: fc.bigInt({ min: 0n, max: 12n }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 14 }), fc.nat(14), (steps, cut) => {
        const apply = (log: ChatLog, from: number, to: number) => {
          steps.slice(from, to).forEach((s, i) => {
            if (s.kind === "msg") log.applyMessage(BigInt(from + i), s.sender, from + i, s.content);
            else log.applyRedaction(s.at);
          });
        };
        const whole = new ChatLog();
        apply(whole, 0, steps.length);
        const first = new ChatLog();
        apply(first, 0, cut);
        const reloaded = new ChatLog(JSON.parse(JSON.stringify(first.toJSON())));
        apply(reloaded, cut, steps.length);
        expect(reloaded.toJSON()).toEqual(whole.toJSON());
      }),
      { seed: 14, numRuns: 200 },
    );
  });
});
