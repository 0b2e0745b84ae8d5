/**
 * The authority statements as hub frames (src/federation/authority/authorityFrames.ts) and
 * the records kept for them in the audit chain (termRecords.ts, roomFacts.ts): any
 * proposal, vote, refusal and certificate survives its frame; any other payload decodes
 * to a typed error only; records read back after a "restart" are the ones written.
 */
import {
  createDeviceSigner,
  decodePayload,
  Frame,
  isProtocolError,
  Opcode,
  verifyFrame,
} from "@kalandra/proto";
import { ManualTime } from "@kalandra/test-support";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  certFrame,
  certOf,
  proposalOf,
  proposeFrame,
  voteAnswerOf,
  voteFrame,
} from "../../../src/federation/authority/authorityFrames.js";
import {
  type Proposal,
  proposalHash,
  StatementFormatError,
  signVote,
} from "../../../src/federation/authority/statement.js";
import { TermRecords } from "../../../src/federation/authority/termRecords.js";
import { initialRecord } from "../../../src/federation/authority/termState.js";
import { RoomFacts } from "../../../src/federation/roomFacts.js";
import { MemoryStorage } from "../../../src/storage/memoryStorage.js";

const signer = createDeviceSigner(new Uint8Array(32).fill(9));
const domain = fc.constantFrom("a.example", "b.example", "c.example", "d.example");
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

const proposalArb: fc.Arbitrary<Proposal> = fc.record({
  roomId: fc.bigInt({ min: 1n, max: (1n << 128n) - 1n }),
  term: u64,
  from: domain,
  to: domain,
  proposer: domain,
  position: u64,
  lastTerm: u64,
  voters: fc.uniqueArray(domain, { minLength: 1 }).map((v) => v.sort()),
  nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  kind: fc.constantFrom("planned" as const, "failover" as const),
});

describe("authority frames", () => {
  it("property: a proposal survives its AUTHORITY_PROPOSE frame, signed by the sender", () => {
    fc.assert(
      fc.property(proposalArb, (p) => {
        const frame = Frame.fromWire(proposeFrame(signer, p));
        expect(verifyFrame(frame, signer.publicKey)).toBe(true);
        const back = proposalOf(
          frame.header.roomId,
          decodePayload(Opcode.AUTHORITY_PROPOSE, frame.payload),
        );
        expect(proposalHash(back)).toEqual(proposalHash(p));
      }),
    );
  });

  it("property: votes, refusals and certificates survive their frames", () => {
    fc.assert(
      fc.property(proposalArb, fc.boolean(), (p, approve) => {
        const hash = proposalHash(p);
        const vote = signVote("b.example", hash, signer);
        const cert = { proposal: p, votes: [vote] };
        const answer = approve
          ? { approve: true as const, vote }
          : { approve: false as const, refusal: "ALREADY_VOTED" as const, cert };
        const v = Frame.fromWire(
          voteFrame(
            signer,
            { roomId: p.roomId, term: p.term, hash, voter: "b.example", logIndex: 0n },
            answer,
          ),
        );
        expect(voteAnswerOf(decodePayload(Opcode.AUTHORITY_VOTE, v.payload))).toEqual(answer);
        const handover = { nextIndex: p.position, roomState: p.nonce, createdAt: p.term };
        const c = Frame.fromWire(certFrame(signer, cert, handover));
        const back = certOf(decodePayload(Opcode.HANDOVER_CERT, c.payload));
        expect(back.handover).toEqual(handover);
        expect(back.cert.votes).toEqual([vote]);
        expect(proposalHash(back.cert.proposal)).toEqual(hash);
      }),
    );
  });

  it("property: garbage statements in well-formed frames fail typed, never otherwise", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.uint8Array({ maxLength: 32 })),
        (proposal, votes) => {
          try {
            certOf({ proposal, votes });
          } catch (e) {
            expect(e instanceof StatementFormatError || isProtocolError(e)).toBe(true);
          }
        },
      ),
    );
    expect(() =>
      voteAnswerOf({
        term: 1n,
        proposal: new Uint8Array(32),
        voter: "b",
        approve: true,
        log_index: 0n,
      }),
    ).toThrow(StatementFormatError);
    expect(() =>
      voteAnswerOf({
        term: 1n,
        proposal: new Uint8Array(32),
        voter: "b",
        approve: false,
        log_index: 0n,
        refusal: "MAYBE",
      }),
    ).toThrow(StatementFormatError);
  });
});

describe("records in the audit chain", () => {
  it("property: term records and room facts read back after a restart are the last ones written", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.bigInt({ min: 1n, max: 4n }), u64, domain), { maxLength: 12 }),
        async (writes) => {
          const storage = new MemoryStorage();
          const clock = new ManualTime();
          const records = new TermRecords({ storage, clock, self: "a.example" });
          const facts = new RoomFacts({ storage, clock, self: "a.example" });
          const last = new Map<bigint, bigint>();
          for (const [room, term, authority] of writes) {
            await records.put({ ...initialRecord(room, authority), term }, "transfer");
            await facts.setVoters(room, [authority]);
            await facts.beginTerm(room, term, term);
            if (term > (last.get(room) ?? 0n)) last.set(room, term);
          }
          const again = new TermRecords({ storage, clock, self: "a.example" });
          const factsAgain = new RoomFacts({ storage, clock, self: "a.example" });
          for (const [room] of writes) {
            expect(again.get(room)).toEqual(records.get(room));
            expect(factsAgain.voters(room)).toEqual(facts.voters(room));
            expect(factsAgain.lastTerm(room)).toBe(last.get(room) ?? 0n);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it("the term of a log's last entry follows the recorded starts", async () => {
    const facts = new RoomFacts({
      storage: new MemoryStorage(),
      clock: new ManualTime(),
      self: "a",
    });
    await facts.beginTerm(1n, 1n, 5n);
    await facts.beginTerm(1n, 3n, 9n);
    expect([0n, 5n, 6n, 9n, 10n].map((n) => facts.termAt(1n, n))).toEqual([0n, 0n, 1n, 1n, 3n]);
    // A later term starting earlier replaces what it covers (a tail gave way).
    await facts.beginTerm(1n, 4n, 7n);
    expect([7n, 8n, 12n].map((n) => facts.termAt(1n, n))).toEqual([1n, 4n, 4n]);
    await facts.beginTerm(1n, 2n, 20n); // an older term: ignored
    expect(facts.lastTerm(1n)).toBe(4n);
  });
});
