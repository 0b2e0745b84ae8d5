/**
 * One group under test with members on both implementations. It plays the delivery
 * service: every commit goes to every other member, its Welcome to the joiners, and the
 * latest GroupInfo is kept as the hub keeps it (for external joins and the hub's
 * proposals). After every epoch change `check()` asserts that all members agree on the
 * epoch, the membership and the MLS exporter (RFC 9420 §8.5).
 */
import { bytesEqual, toHex } from "@kalandra/proto";
import type { CommitOut, InteropMember } from "./member.js";

const EXPORTER_LENGTH = 32;
const enc = new TextEncoder();
const dec = new TextDecoder();

export class InteropFailure extends Error {
  override readonly name = "InteropFailure";
}

export function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InteropFailure(message);
}

export class Room {
  readonly members: InteropMember[] = [];
  groupInfo: Uint8Array | undefined;
  /** Epochs at which every member's exporter was compared. */
  epochsChecked = 0;

  constructor(readonly groupId: Uint8Array) {}

  static async create(
    creator: InteropMember,
    groupId: Uint8Array,
    hubPublicKey?: Uint8Array,
  ): Promise<Room> {
    const room = new Room(groupId);
    await creator.createGroup(groupId, hubPublicKey);
    room.members.push(creator);
    await room.check();
    return room;
  }

  /** `committer` adds `joiners` by Welcome; everyone else processes the commit. */
  async add(committer: InteropMember, joiners: InteropMember[]): Promise<void> {
    const kps = await Promise.all(joiners.map((j) => j.keyPackage()));
    const out = await committer.add(kps);
    await this.deliver(committer, out);
    expect(out.welcome !== undefined, `${committer.impl}'s add commit carries no Welcome`);
    for (const j of joiners) {
      await step(`${j.impl} joins from ${committer.impl}'s Welcome`, () =>
        j.joinWelcome(out.welcome as Uint8Array),
      );
      this.members.push(j);
    }
    await this.check();
  }

  async update(committer: InteropMember): Promise<void> {
    await this.deliver(committer, await committer.update());
    await this.check();
  }

  async remove(committer: InteropMember, removed: InteropMember[]): Promise<void> {
    const out = await committer.remove(removed.map((r) => r.identity));
    await this.deliver(committer, out, removed);
    await this.check();
  }

  /** `joiner` joins by external commit from the room's latest GroupInfo (§12.4.3.2). */
  async joinExternal(joiner: InteropMember): Promise<void> {
    const gi = this.groupInfo;
    expect(gi !== undefined, "no GroupInfo to join from");
    const out = await step(`${joiner.impl} builds an external commit`, () =>
      joiner.joinExternal(gi),
    );
    await this.deliver(joiner, out);
    this.members.push(joiner);
    await this.check();
  }

  /** A proposal from outside the group (the hub): every member processes it. */
  async deliverProposal(proposal: Uint8Array): Promise<void> {
    for (const m of this.members) {
      const r = await step(`${m.impl} processes the external proposal`, () => m.receive(proposal));
      expect(r.kind === "proposal", `${m.impl} took the proposal for a ${r.kind}`);
    }
  }

  async commitPending(committer: InteropMember, removed: InteropMember[]): Promise<void> {
    await this.deliver(committer, await committer.commitPending(), removed);
    await this.check();
  }

  /** Hands a commit to every member but its sender; `removed` must see themselves removed. */
  private async deliver(
    sender: InteropMember,
    out: CommitOut,
    removed: InteropMember[] = [],
  ): Promise<void> {
    for (const m of this.members) {
      if (m === sender) continue;
      const r = await step(`${m.impl} processes ${sender.impl}'s commit`, () =>
        m.receive(out.commit),
      );
      expect(r.kind === "commit", `${m.impl} took ${sender.impl}'s commit for a ${r.kind}`);
      const gone = removed.includes(m);
      expect(r.removed === gone, `${m.impl} ${gone ? "missed its" : "saw a false"} removal`);
    }
    for (const r of removed) this.members.splice(this.members.indexOf(r), 1);
    this.groupInfo = out.groupInfo;
  }

  /** Each member sends one application message that every other member must read. */
  async messageAll(): Promise<number> {
    let read = 0;
    for (const sender of this.members) {
      const text = `from ${sender.identity} at ${toHex(this.groupId).slice(0, 8)}`;
      const ct = await sender.encrypt(enc.encode(text));
      for (const m of this.members) {
        if (m === sender) continue;
        const r = await step(`${m.impl} reads ${sender.impl}'s message`, () => m.receive(ct));
        expect(r.kind === "application", `${m.impl} read ${sender.impl}'s message as ${r.kind}`);
        expect(dec.decode(r.plaintext) === text, `${m.impl} read a different text`);
        // core-crypto names the sender from its credential, parsed as a Wire client id.
        if (m.impl === "openmls")
          expect(r.sender === sender.identity, `${m.impl} names the sender ${r.sender}`);
        read++;
      }
    }
    return read;
  }

  /** Epoch, membership and exporter agree across every member. */
  async check(): Promise<void> {
    const [first, ...rest] = this.members;
    if (first === undefined) return;
    const epoch = await first.epoch();
    const ids = (await first.memberIdentities()).join(",");
    const exporter = await first.exporter(EXPORTER_LENGTH);
    expect(
      ids.split(",").length === this.members.length,
      `${first.impl} sees ${ids.split(",").length} members, the room has ${this.members.length}`,
    );
    for (const m of rest) {
      const e = await m.epoch();
      expect(e === epoch, `epoch: ${first.impl} ${epoch}, ${m.impl} ${e}`);
      expect((await m.memberIdentities()).join(",") === ids, `membership differs at ${m.impl}`);
      const x = await m.exporter(EXPORTER_LENGTH);
      expect(
        bytesEqual(x, exporter),
        `exporter differs at epoch ${epoch}: ${first.impl} vs ${m.impl}`,
      );
    }
    this.epochsChecked++;
  }
}

/** Runs `f`, prefixing any failure with what was being done. */
export async function step<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof InteropFailure) throw e;
    throw new InteropFailure(`${what}: ${describeError(e)}`);
  }
}

/**
 * An error's name and message; core-crypto's errors carry theirs nested (CoreCryptoError
 * { tag: "Mls", inner: { mlsError: { tag: "Other", inner: { msg } } } }).
 */
export function describeError(e: unknown): string {
  const tags: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; depth < 6 && typeof cur === "object" && cur !== null; depth++) {
    const o = cur as { tag?: unknown; inner?: Record<string, unknown> };
    if (typeof o.tag === "string") tags.push(o.tag);
    const msg = o.inner?.msg;
    if (typeof msg === "string") return `core-crypto ${tags.join(".")}: ${msg}`;
    cur = o.inner === undefined ? undefined : Object.values(o.inner)[0];
  }
  if (tags.length > 0) return `core-crypto ${tags.join(".")}`;
  const err = e as { name?: string; message?: string };
  return `${err?.name ?? "Error"}: ${err?.message ?? String(e)}`;
}
