/**
 * When a hub believes a higher term (src/federation/trust/termChain.ts) and the chain it
 * serves (TERM_CHAIN, termRecords.ts): a certificate that a minority of the voters the hub
 * knows signed is never believed, whatever voter list it names; one a majority signed is;
 * a chain survives its frame and a restart.
 */
import {
  createDeviceSigner,
  type DeviceSigner,
  decodePayload,
  Frame,
  hubFrame,
  Opcode,
} from "@kalandra/proto";
import { ManualTime } from "@kalandra/test-support";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { certFromWire, certToWire } from "../../../src/federation/authority/authorityFrames.js";
import {
  type HandoverCertificate,
  majority,
  type Proposal,
  proposalHash,
  signVote,
} from "../../../src/federation/authority/statement.js";
import { TermRecords } from "../../../src/federation/authority/termRecords.js";
import { initialRecord } from "../../../src/federation/authority/termState.js";
import { type Anchor, anchorOf, checkLink } from "../../../src/federation/trust/termChain.js";
import { MemoryStorage } from "../../../src/storage/memoryStorage.js";

const DOMAINS = ["a.example", "b.example", "c.example", "d.example", "e.example", "f.example"];
const signers = new Map<string, DeviceSigner>(
  DOMAINS.map((d, i) => [d, createDeviceSigner(new Uint8Array(32).fill(i + 1))]),
);
const keys = (d: string) => signers.get(d)?.publicKey;
const ROOM = 77n;

const sortedSet = (min: number) =>
  fc.uniqueArray(fc.constantFrom(...DOMAINS), { minLength: min }).map((v) => v.sort());

/** A certificate for `voters`, naming `to`, signed by `signedBy` (each under its own key). */
function certificate(
  voters: readonly string[],
  signedBy: readonly string[],
  over: Partial<Proposal> = {},
): HandoverCertificate {
  const proposal: Proposal = {
    roomId: ROOM,
    term: 1n,
    from: "a.example",
    to: voters[0]!,
    proposer: voters[0]!,
    position: 5n,
    lastTerm: 0n,
    voters: [...voters],
    nonce: new Uint8Array(16).fill(3),
    kind: "failover",
    ...over,
  };
  const hash = proposalHash(proposal);
  return { proposal, votes: signedBy.map((d) => signVote(d, hash, signers.get(d)!)) };
}

describe("believing a higher term", () => {
  it("property: a certificate that a minority of the known voters signed is never believed, whatever voters it lists", () => {
    fc.assert(
      fc.property(
        sortedSet(1),
        sortedSet(1),
        fc.nat(),
        fc.constantFrom("planned" as const, "failover" as const),
        (known, listed, pick, kind) => {
          // The forgers: every listed voter outside the known list, and a minority of it.
          const insiders = known.filter((_, i) => (pick >> i) & 1);
          const minority = insiders.slice(0, majority(known.length) - 1);
          const forgers = listed.filter((d) => !known.includes(d) || minority.includes(d));
          if (forgers.length === 0) return;
          // The sitting authority is never among them (it may hand its room to anyone).
          const authority = known.find((d) => !forgers.includes(d));
          if (authority === undefined) return;
          const to = forgers[0]!;
          const cert = certificate(listed, forgers, { kind, to, proposer: to, from: authority });
          const anchor: Anchor = { authority, term: 0n, voterSets: [known] };
          expect(checkLink(cert, anchor, keys).ok).toBe(false);
        },
      ),
    );
  });

  it("property: a certificate that a majority of the known voters signed is believed", () => {
    fc.assert(
      fc.property(sortedSet(1), fc.nat(), (known, pick) => {
        const signed = [
          ...known.slice(0, majority(known.length)),
          ...known.filter((_, i) => (pick >> i) & 1),
        ];
        const by = [...new Set(signed)];
        const cert = certificate(known, by, { to: by[0]!, proposer: by[0]! });
        const rec = { ...initialRecord(ROOM, "a.example"), term: 0n };
        expect(checkLink(cert, anchorOf(rec, known), keys)).toEqual({ ok: true });
        // Known already (not above the hub's term): nothing to believe.
        expect(checkLink(cert, anchorOf({ ...rec, term: 1n }, known), keys).ok).toBe(false);
      }),
    );
  });

  it("a planned transfer is believed on the sitting authority's word; first contact on the chain's own proofs", () => {
    const planned = certificate(["a.example", "b.example"], ["a.example", "b.example"], {
      kind: "planned",
      from: "a.example",
      proposer: "a.example",
      to: "b.example",
    });
    // The voter list grew since this hub last heard it: the authority's handover still counts.
    const anchor: Anchor = { authority: "a.example", term: 0n, voterSets: [["c.example"]] };
    expect(checkLink(planned, anchor, keys)).toEqual({ ok: true });
    expect(checkLink(planned, { ...anchor, authority: "d.example" }, keys).ok).toBe(false);
    const alone = certificate(["b.example"], ["b.example"]);
    expect(checkLink(alone, { authority: "a.example", term: 0n, voterSets: [] }, keys)).toEqual({
      ok: true,
    });
    expect(checkLink(alone, anchorOf(initialRecord(ROOM, "a.example"), DOMAINS), keys).ok).toBe(
      false,
    );
  });
});

describe("the chain a hub serves", () => {
  it("property: certificates survive a TERM_CHAIN frame, and a restart serves the same chain", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(sortedSet(1), fc.nat({ max: 3 })), { minLength: 1, maxLength: 6 }),
        fc.nat({ max: 6 }),
        async (terms, after) => {
          const storage = new MemoryStorage();
          const clock = new ManualTime();
          const records = new TermRecords({ storage, clock, self: "a.example" });
          const certs = terms.map(([voters, gap], i) =>
            certificate(voters, voters, { term: BigInt(i + 1), position: BigInt(gap) }),
          );
          for (const cert of certs) {
            const p = cert.proposal;
            const rec = { ...initialRecord(ROOM, p.to), term: p.term, certificate: cert };
            await records.put(rec, "transfer");
            await records.put(rec, "vote"); // a record rewritten in its term: one link
          }
          const served = records.chain(ROOM, BigInt(after), 32);
          expect(served.map((c) => c.proposal.term)).toEqual(
            certs.map((c) => c.proposal.term).filter((t) => t > BigInt(after)),
          );
          const frame = Frame.fromWire(
            hubFrame(signers.get("a.example")!, Opcode.TERM_CHAIN, ROOM, 0n, {
              certs: served.map(certToWire),
            }),
          );
          const back = decodePayload(Opcode.TERM_CHAIN, frame.payload).certs.map(certFromWire);
          expect(back.map((c) => proposalHash(c.proposal))).toEqual(
            served.map((c) => proposalHash(c.proposal)),
          );
          expect(back.map((c) => c.votes)).toEqual(served.map((c) => c.votes));
          const again = new TermRecords({ storage, clock, self: "a.example" });
          expect(again.chain(ROOM, 0n, 32).map((c) => proposalHash(c.proposal))).toEqual(
            records.chain(ROOM, 0n, 32).map((c) => proposalHash(c.proposal)),
          );
        },
      ),
      { numRuns: 40 },
    );
  });
});
