/**
 * The authority's term, vote and certificate rules (DESIGN §11) over arbitrary runs:
 * proposals from any hub for any term, delivered to voters in any order, repeated, with
 * restarts that reload each voter's persisted record. However the run goes, no two
 * certificates exist for one (room, term); a record survives its encoding; a certificate
 * is adopted only for a higher term and only with a majority of valid votes.
 */
import { createDeviceSigner } from "@kalandra/proto";
import { setCanaries } from "@kalandra/proto/testing";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  decodeProposal,
  encodeProposal,
  type HandoverCertificate,
  majority,
  type Proposal,
  proposalHash,
  signVote,
  verifyCertificate,
} from "../../../src/federation/authority/statement.js";
import {
  adoptCertificate,
  decideVote,
  decodeTermRecord,
  encodeTermRecord,
  initialRecord,
  type TermRecord,
  VoteCollector,
} from "../../../src/federation/authority/termState.js";

const HUBS = ["a.example", "b.example", "c.example", "d.example", "e.example"];
const signers = new Map(
  HUBS.map((h, i) => [h, createDeviceSigner(new Uint8Array(32).fill(i + 1))] as const),
);
const keys = (d: string) => signers.get(d)?.publicKey;
const ROOM = 7n;

function proposal(over: Partial<Proposal> & { voters: readonly string[] }): Proposal {
  return {
    roomId: ROOM,
    term: 1n,
    from: over.voters[0]!,
    to: over.voters[0]!,
    proposer: over.voters[0]!,
    position: 0n,
    lastTerm: 0n,
    nonce: new Uint8Array(16),
    kind: "failover",
    ...over,
  };
}

/** One step of a run: a proposal reaches a voter, or a voter restarts from its disk. */
const stepArb = (n: number) =>
  fc.oneof(
    fc.record({
      kind: fc.constant("deliver" as const),
      proposal: fc.nat(5),
      voter: fc.nat(n - 1),
    }),
    fc.record({ kind: fc.constant("restart" as const), voter: fc.nat(n - 1) }),
  );

const runArb = fc.integer({ min: 2, max: 5 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    proposals: fc.array(
      fc.record({
        term: fc.bigInt({ min: 1n, max: 2n }),
        to: fc.nat(n - 1),
        proposer: fc.nat(n - 1),
        position: fc.bigInt({ min: 0n, max: 4n }),
        lastTerm: fc.bigInt({ min: 0n, max: 2n }),
        kind: fc.constantFrom("planned" as const, "failover" as const),
      }),
      { minLength: 2, maxLength: 6 },
    ),
    logs: fc.array(fc.bigInt({ min: 0n, max: 4n }), { minLength: n, maxLength: n }),
    steps: fc.array(stepArb(n), { minLength: 10, maxLength: 60, size: "max" }),
  }),
);

type Run = typeof runArb extends fc.Arbitrary<infer T> ? T : never;

/** Plays a run; returns every certificate any collector formed. */
function play(run: Run): HandoverCertificate[] {
  const voters = HUBS.slice(0, run.n);
  const disk = new Map(voters.map((v) => [v, encodeTermRecord(initialRecord(ROOM, voters[0]!))]));
  const live = new Map<string, TermRecord>(voters.map((v) => [v, decodeTermRecord(disk.get(v)!)]));
  const proposals = run.proposals.map((p, i) =>
    proposal({
      voters,
      term: p.term,
      to: voters[p.to]!,
      proposer: voters[p.proposer]!,
      from: voters[0]!,
      position: p.position,
      lastTerm: p.lastTerm,
      kind: p.kind,
      nonce: new Uint8Array(16).fill(i), // distinct proposals, even with equal fields
    }),
  );
  const collectors = proposals.map((p) => new VoteCollector(p, keys));
  const certs: HandoverCertificate[] = [];
  for (const step of run.steps) {
    const voter = voters[step.voter]!;
    if (step.kind === "restart") {
      live.set(voter, decodeTermRecord(disk.get(voter)!));
      continue;
    }
    const i = step.proposal % proposals.length;
    const d = decideVote(live.get(voter)!, proposals[i]!, {
      self: voter,
      voters,
      log: { position: run.logs[step.voter]!, lastTerm: 0n },
      signer: signers.get(voter)!,
    });
    if (d.kind === "refused") {
      collectors[i]!.refuse(voter, d.code);
      continue;
    }
    disk.set(voter, encodeTermRecord(d.record)); // persisted before the vote leaves
    live.set(voter, d.record);
    const cert = collectors[i]!.add(d.vote);
    if (cert !== undefined) certs.push(cert);
  }
  return certs;
}

function forkedTerms(certs: readonly HandoverCertificate[]): bigint[] {
  const byTerm = new Map<bigint, string>();
  const forked: bigint[] = [];
  for (const c of certs) {
    const h = Buffer.from(proposalHash(c.proposal)).toString("hex");
    const seen = byTerm.get(c.proposal.term);
    if (seen !== undefined && seen !== h) forked.push(c.proposal.term);
    byTerm.set(c.proposal.term, h);
  }
  return forked;
}

describe("authority terms and votes", () => {
  afterEach(() => setCanaries([]));

  it("never yields two certificates for one (room, term), across restarts and repeats", () => {
    let formed = 0;
    fc.assert(
      fc.property(runArb, (run) => {
        const certs = play(run);
        formed += certs.length;
        expect(forkedTerms(certs)).toEqual([]);
        for (const c of certs) expect(verifyCertificate(c, keys)).toEqual({ ok: true });
      }),
      { numRuns: 300 },
    );
    expect(formed).toBeGreaterThan(100); // the runs do reach majorities
  });

  it("the vote_twice canary (a hub voting for a second proposal in a term) forks a term", () => {
    setCanaries(["vote_twice"]);
    const found = fc.check(
      fc.property(runArb, (run) => forkedTerms(play(run)).length === 0),
      { numRuns: 500, seed: 18 },
    );
    expect(found.failed).toBe(true);
  });

  it("a record and a proposal survive their encodings", () => {
    fc.assert(
      fc.property(runArb, (run) => {
        const certs = play(run);
        for (const c of certs) {
          expect(decodeProposal(encodeProposal(c.proposal))).toEqual(c.proposal);
          const rec: TermRecord = {
            roomId: ROOM,
            term: c.proposal.term,
            authority: c.proposal.to,
            certificate: c,
            vote: { term: c.proposal.term, cast: c.votes[0]! },
          };
          expect(decodeTermRecord(encodeTermRecord(rec))).toEqual(rec);
        }
      }),
      { numRuns: 100 },
    );
  });

  it("a voter answers a repeated proposal with the same vote, and refuses a rival", () => {
    const voters = HUBS.slice(0, 3);
    const view = { self: "b.example", voters, log: { position: 0n, lastTerm: 0n } };
    const rec = initialRecord(ROOM, "a.example");
    const p1 = proposal({ voters, to: "b.example", proposer: "b.example" });
    const p2 = proposal({ voters, to: "c.example", proposer: "c.example" });
    const first = decideVote(rec, p1, { ...view, signer: signers.get("b.example")! });
    if (first.kind !== "vote") throw new Error("expected a vote");
    expect(first.repeated).toBe(false);
    const again = decideVote(first.record, p1, { ...view, signer: signers.get("b.example")! });
    expect(again).toMatchObject({ kind: "vote", repeated: true, vote: first.vote });
    expect(decideVote(first.record, p2, { ...view, signer: signers.get("b.example")! })).toEqual({
      kind: "refused",
      code: "ALREADY_VOTED",
      term: 0n,
    });
  });

  it("refuses stale terms, non-voters, foreign voter lists, planned transfers not from the authority, and behind candidates", () => {
    const voters = HUBS.slice(0, 3);
    const signer = signers.get("c.example")!;
    const view = { self: "c.example", voters, log: { position: 5n, lastTerm: 1n }, signer };
    const rec: TermRecord = { roomId: ROOM, term: 1n, authority: "a.example" };
    const ahead = { position: 5n, lastTerm: 1n };
    const code = (p: Proposal, v = view) => {
      const d = decideVote(rec, p, v);
      return d.kind === "refused" ? d.code : "vote";
    };
    expect(code(proposal({ voters, term: 1n, ...ahead }))).toBe("STALE_TERM");
    expect(code(proposal({ voters: ["a.example", "b.example"], term: 2n, ...ahead }))).toBe(
      "NOT_VOTER",
    );
    expect(code(proposal({ voters: HUBS.slice(0, 4), term: 2n, ...ahead }))).toBe(
      "VOTERS_MISMATCH",
    );
    const planned = { voters, term: 2n, kind: "planned" as const, to: "b.example" };
    expect(code(proposal({ ...planned, proposer: "b.example", from: "a.example" }))).toBe(
      "NOT_AUTHORITY",
    );
    expect(code(proposal({ ...planned, proposer: "a.example", from: "a.example" }))).toBe("vote");
    expect(code(proposal({ ...planned, proposer: "a.example", from: "b.example" }))).toBe(
      "NOT_AUTHORITY",
    );
    const failover = { voters, term: 2n, to: "b.example", proposer: "b.example" };
    expect(code(proposal({ ...failover, position: 4n, lastTerm: 1n }))).toBe("CANDIDATE_BEHIND");
    expect(code(proposal({ ...failover, position: 9n, lastTerm: 0n }))).toBe("CANDIDATE_BEHIND");
    expect(code(proposal({ ...failover, position: 1n, lastTerm: 2n }))).toBe("vote");
  });

  it("adopts a certificate only for a higher term and with a majority of valid votes", () => {
    const voters = HUBS.slice(0, 5);
    const p = proposal({ voters, term: 2n, to: "c.example" });
    const hash = proposalHash(p);
    const votes = voters.map((v) => signVote(v, hash, signers.get(v)!));
    const rec: TermRecord = { roomId: ROOM, term: 1n, authority: "a.example" };
    const need = majority(voters.length);
    const full = { proposal: p, votes: votes.slice(0, need) };
    expect(adoptCertificate(rec, full, keys)).toMatchObject({
      kind: "adopted",
      previous: "a.example",
      record: { term: 2n, authority: "c.example" },
    });
    expect(adoptCertificate({ ...rec, term: 2n }, full, keys)).toEqual({ kind: "known" });
    const short = { proposal: p, votes: votes.slice(0, need - 1) };
    expect(adoptCertificate(rec, short, keys).kind).toBe("invalid");
    const repeated = { proposal: p, votes: [votes[0]!, votes[0]!, votes[0]!] };
    expect(adoptCertificate(rec, repeated, keys).kind).toBe("invalid");
    const forged = votes
      .slice(0, need)
      .map((v, i) => (i === 0 ? { ...v, signature: new Uint8Array(64) } : v));
    expect(adoptCertificate(rec, { proposal: p, votes: forged }, keys).kind).toBe("invalid");
    const other = { ...p, to: "d.example" };
    expect(adoptCertificate(rec, { proposal: other, votes: full.votes }, keys).kind).toBe(
      "invalid",
    );
    expect(adoptCertificate({ ...rec, roomId: 8n }, full, keys).kind).toBe("invalid");
  });
});
