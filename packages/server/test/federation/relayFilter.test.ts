/**
 * A participating hub's bans over what it relays (federation/relayFilter.ts): which frames
 * are withheld, attribution kept across a restart (the audit chain), sync pages relayed
 * with the withheld payloads left out.
 */
import {
  createDeviceSigner,
  decodePayload,
  Flag,
  Frame,
  hubFrame,
  Offset,
  Opcode,
  responseFrame,
} from "@kalandra/proto";
import { ManualTime } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { ATTRIBUTION_AUDIT_KIND, RelayFilter } from "../../src/federation/relayFilter.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";

const ROOM = 7n;
const ALICE = 0xa1n;
const BOB = 0xb0n;
const banned = new Set(["alice@a.example"]);
const bans = { isBanned: (u: string) => banned.has(u) };
const header = (opcode: number, senderId: bigint) => ({ opcode, senderId, roomId: ROOM });

describe("RelayFilter", () => {
  it("withholds a banned remote user's application and ephemeral frames only", async () => {
    const time = new ManualTime();
    const f = new RelayFilter(bans, new MemoryStorage(), time);
    expect(f.withholds(header(Opcode.APP_MESSAGE, ALICE))).toBe(false); // not attributed yet
    await f.attribute(ALICE, "alice@a.example", "a.example");
    await f.attribute(BOB, "bob@a.example", "a.example");
    expect(f.withholds(header(Opcode.APP_MESSAGE, ALICE))).toBe(true);
    expect(f.withholds(header(Opcode.PRESENCE, ALICE))).toBe(true);
    expect(f.withholds(header(Opcode.TYPING, ALICE))).toBe(true);
    expect(f.withholds(header(Opcode.COMMIT, ALICE))).toBe(false);
    expect(f.withholds(header(Opcode.PROPOSAL, ALICE))).toBe(false);
    expect(f.withholds(header(Opcode.APP_MESSAGE, BOB))).toBe(false);
    expect(f.withholds(header(Opcode.APP_MESSAGE, 0n))).toBe(false);
    expect(f.withheldCount).toBe(3);
    expect(
      new RelayFilter(undefined, new MemoryStorage(), time).withholds(
        header(Opcode.APP_MESSAGE, ALICE),
      ),
    ).toBe(false);
  });

  it("keeps who the authority named for each device across a restart, once per device", async () => {
    const time = new ManualTime();
    const storage = new MemoryStorage();
    const f = new RelayFilter(bans, storage, time);
    await f.attribute(ALICE, "alice@a.example", "a.example");
    await f.attribute(ALICE, "alice@a.example", "a.example");
    await f.attribute(BOB, undefined, "a.example");
    const records = storage.readAudit().filter((r) => r.kind === ATTRIBUTION_AUDIT_KIND);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      actor: "hub:a.example",
      detail: { user_id: "alice@a.example" },
    });
    const restarted = new RelayFilter(bans, storage, time);
    expect(restarted.userOf(ALICE)).toBe("alice@a.example");
    expect(restarted.withholds(header(Opcode.APP_MESSAGE, ALICE))).toBe(true);
  });

  it("relays a sync page with the withheld payloads left out, re-signed; others untouched", async () => {
    const time = new ManualTime();
    const f = new RelayFilter(bans, new MemoryStorage(), time);
    await f.attribute(ALICE, "alice@a.example", "a.example");
    const a = createDeviceSigner(new Uint8Array(32).fill(1));
    const b = createDeviceSigner(new Uint8Array(32).fill(2));
    const req = Frame.fromWire(
      hubFrame(b, Opcode.SYNC_REQUEST, ROOM, 0n, { from: 0n, limit: 9 }, Flag.EXTERNAL, 5),
    );
    const page = (entries: { header: Uint8Array; payload: Uint8Array | null }[]) =>
      Frame.fromWire(
        responseFrame(a, req.header, Opcode.SYNC_PAGE, { entries, next: 2n, head: 2n }),
      );
    const msg = (sender: bigint) => {
      const c = createDeviceSigner(new Uint8Array(32).fill(3));
      const w = hubFrame(
        c,
        Opcode.APP_MESSAGE,
        ROOM,
        1n,
        { generation: 0, ciphertext: new Uint8Array([9]) },
        0,
        1,
      );
      const hdr = w.slice(0, 128);
      new DataView(hdr.buffer).setBigUint64(Offset.SENDER_ID, sender);
      return { header: hdr, payload: w.slice(128) };
    };
    expect(f.page(b, page([msg(BOB)]))).toBeUndefined();
    expect(f.page(b, req)).toBeUndefined();
    const relayed = f.page(b, page([msg(ALICE), msg(BOB)]))!;
    const p = decodePayload(Opcode.SYNC_PAGE, Frame.fromWire(relayed).payload);
    expect(p.entries.map((e) => e.payload === null)).toEqual([true, false]);
    expect(p.head).toBe(2n);
  });
});
