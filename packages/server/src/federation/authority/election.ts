/**
 * One proposal in flight (DESIGN §11): the proposer's own vote, the proposal sent to every
 * other voter until they answer, the votes counted until a majority makes the handover
 * certificate. And the voter's side: `answer` decides, persists, audits, then replies.
 */
import type { AuthorityMessage } from "./messages.js";
import type { RoomAuthorityEngineOptions } from "./roomAuthority.js";
import {
  type HandoverCertificate,
  NONCE_BYTES,
  type Proposal,
  type TransferKind,
  type Vote,
} from "./statement.js";
import { decideVote, VoteCollector, type VoteRefusal } from "./termState.js";

/** How long a proposal waits for a majority, in units of the failover delay. */
const EXPIRES_AFTER_FAILOVERS = 2;

export interface ProposalShape {
  kind: TransferKind;
  term: bigint;
  to: string;
  position: bigint;
  lastTerm: bigint;
}

export class Election {
  readonly proposal: Proposal;
  readonly #collector: VoteCollector;
  readonly #answered = new Set<string>();
  readonly #expiresAt: bigint;
  #resolve: (cert: HandoverCertificate | undefined) => void = () => {};

  constructor(
    readonly o: RoomAuthorityEngineOptions,
    shape: ProposalShape,
    now: bigint,
  ) {
    const rec = o.store.record();
    this.proposal = {
      roomId: o.roomId,
      term: shape.term,
      from: rec.authority,
      to: shape.to,
      proposer: o.self,
      position: shape.position,
      lastTerm: shape.lastTerm,
      voters: [...o.voters()],
      nonce: o.rng.bytes(NONCE_BYTES),
      kind: shape.kind,
    };
    this.#collector = new VoteCollector(this.proposal, o.keys);
    this.#expiresAt = now + BigInt(EXPIRES_AFTER_FAILOVERS * o.failoverAfterMs);
  }

  /** Votes for its own proposal (persisted first), sends it, resolves with the certificate. */
  async start(): Promise<HandoverCertificate | undefined> {
    const done = new Promise<HandoverCertificate | undefined>((r) => {
      this.#resolve = r;
    });
    const own = await Election.answer(this.o, this.proposal, this.proposal.lastTerm);
    if (own.t !== "vote") return undefined;
    this.vote(own.vote);
    this.resend(this.o.send);
    return done;
  }

  expired(now: bigint): boolean {
    if (now < this.#expiresAt) return false;
    this.#resolve(undefined);
    return true;
  }

  resend(send: RoomAuthorityEngineOptions["send"]): void {
    for (const v of this.proposal.voters) {
      if (v === this.o.self || this.#answered.has(v)) continue;
      send(v, { t: "propose", room: this.o.roomId, proposal: this.proposal });
    }
  }

  vote(v: Vote): void {
    this.#answered.add(v.voter);
    const cert = this.#collector.add(v);
    if (cert !== undefined) this.#resolve(cert);
  }

  refuse(voter: string, code: VoteRefusal): void {
    this.#answered.add(voter);
    this.#collector.refuse(voter, code);
    if (this.#collector.lost) this.#resolve(undefined);
  }

  /**
   * A voter's answer to a proposal: its vote, persisted and audited before it is returned
   * (so a restart can never vote again in that term), or a typed refusal carrying the
   * certificate of a higher term when it knows one.
   */
  static async answer(
    o: RoomAuthorityEngineOptions,
    proposal: Proposal,
    lastTerm: bigint,
  ): Promise<AuthorityMessage> {
    const rec = o.store.record();
    const d = decideVote(rec, proposal, {
      self: o.self,
      voters: o.voters(),
      log: { position: o.store.length(), lastTerm },
      signer: o.signer,
    });
    if (d.kind === "refused") {
      const cert =
        rec.certificate !== undefined && rec.term >= proposal.term ? { cert: rec.certificate } : {};
      // The promised term too, so the proposer's next proposal goes above it.
      const promised = rec.vote?.term ?? 0n;
      const term = promised > d.term ? promised : d.term;
      return { t: "refuse", room: o.roomId, term, code: d.code, ...cert };
    }
    if (!d.repeated) {
      o.store.putRecord(d.record);
      o.audit("authority_vote", {
        term: proposal.term,
        to: proposal.to,
        kind: proposal.kind,
        proposer: proposal.proposer,
      });
    }
    await o.store.sync();
    return { t: "vote", room: o.roomId, term: proposal.term, vote: d.vote };
  }
}
