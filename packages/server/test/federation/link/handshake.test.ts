/**
 * The hub link handshake (DESIGN §11): a challenge each way with pinned keys; every
 * refusal typed. Both ends are the real state machines run against each other, or against
 * frames a hostile peer builds.
 */
import {
  createDeviceSigner,
  decodePayload,
  encodePayload,
  Flag,
  Frame,
  hubFrame,
  Opcode,
} from "@kalandra/proto";
import { seededBytes } from "@kalandra/test-support";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LinkEndpoint, type LinkEvent } from "../../../src/federation/link/index.js";
import { A, B, buckets, C, hub, policyOf, rng, run } from "./fixtures.js";

function dialer(self = A, peer = B.entry, seed = "d") {
  return LinkEndpoint.dialer({ self, peer, rng: rng(seed), bucketFor: buckets() });
}
function acceptor(self = B, policy = policyOf(B, [A, C]), seed = "a") {
  return LinkEndpoint.acceptor({ self, policy, rng: rng(seed), bucketFor: buckets() });
}
const closed = (evs: LinkEvent[]) => evs.find((e) => e.kind === "closed");
const up = (evs: LinkEvent[]) => evs.find((e) => e.kind === "up");

describe("hub link handshake", () => {
  it("brings a link up on both ends when each proves its pinned key", () => {
    const d = dialer();
    const a = acceptor();
    const seen = run(d, a);
    expect(up(seen.dialer)).toEqual({ kind: "up", peer: B.entry, maxHops: 3 });
    expect(up(seen.acceptor)).toEqual({ kind: "up", peer: A.entry, maxHops: 3 });
    expect(d.up?.domain).toBe("b.example");
    expect(a.up?.domain).toBe("a.example");
    expect(seen.dialer.map((e) => e.kind)).toEqual(["send", "send", "up"]);
    expect(seen.acceptor.map((e) => e.kind)).toEqual(["send", "send", "up"]);
  });

  it("refuses an unconfigured, a blocked and an unlisted dialer, typed, naming the claimed domain", () => {
    const cases = [
      { policy: policyOf(B, [C]), code: "PEER_NOT_CONFIGURED" },
      { policy: policyOf(B, [A, C], { block: ["a.example"] }), code: "PEER_BLOCKED" },
      { policy: policyOf(B, [A, C], { allow: ["c.example"] }), code: "PEER_BLOCKED" },
    ] as const;
    for (const { policy, code } of cases) {
      const d = dialer();
      const seen = run(d, acceptor(B, policy));
      expect(closed(seen.acceptor), code).toMatchObject({
        kind: "closed",
        code,
        peer: "a.example",
        remote: false,
      });
      // The dialer learns why, from the acceptor's ERROR frame.
      expect(closed(seen.dialer), code).toMatchObject({
        kind: "closed",
        code,
        peer: "b.example",
        remote: true,
      });
      expect(up(seen.acceptor)).toBeUndefined();
      expect(up(seen.dialer)).toBeUndefined();
    }
  });

  it("refuses a dialer holding another key than the one pinned for its domain", () => {
    const impostor = { ...hub("x"), domain: "a.example" };
    impostor.signer = createDeviceSigner(seededBytes("not a's key", 32));
    const d = LinkEndpoint.dialer({
      self: impostor,
      peer: B.entry,
      rng: rng("i"),
      bucketFor: buckets(),
    });
    const seen = run(d, acceptor());
    expect(closed(seen.acceptor)).toMatchObject({ code: "HUB_KEY_MISMATCH", peer: "a.example" });
  });

  it("refuses a dialer that claims the pinned key but cannot sign with it", () => {
    // FED_HELLO carrying A's public key, signed by another key.
    const other = createDeviceSigner(seededBytes("thief", 32));
    const forged = { publicKey: A.signer.publicKey, sign: (m: Uint8Array) => other.sign(m) };
    const d = LinkEndpoint.dialer({
      self: { domain: "a.example", signer: forged },
      peer: B.entry,
      rng: rng("f"),
      bucketFor: buckets(),
    });
    const seen = run(d, acceptor());
    expect(closed(seen.acceptor)).toMatchObject({ code: "BAD_HUB_SIGNATURE", peer: "a.example" });
  });

  it("the dialer refuses an acceptor that is not the pinned peer", () => {
    // Dials "b.example" pinned to B's key, but C answers (a hijacked address).
    const d = dialer(A, B.entry);
    const cAcceptsEveryone = acceptor(C, policyOf(C, [A]));
    // C, as itself, refuses a FED_HELLO addressed to b.example; the dialer learns why.
    const fake = run(d, cAcceptsEveryone);
    expect(closed(fake.dialer)).toMatchObject({ code: "PEER_NOT_CONFIGURED", remote: true });
    // A challenge naming another domain than the one dialed is refused by the dialer itself.
    const d1 = dialer(A, B.entry, "d1");
    d1.start();
    const wrongDomain = hubFrame(
      B.signer,
      Opcode.FED_CHALLENGE,
      0n,
      0n,
      encodePayload(Opcode.FED_CHALLENGE, {
        domain: "c.example",
        hub_key: B.signer.publicKey,
        nonce: new Uint8Array(32),
        signature: new Uint8Array(64),
      }),
      Flag.FEDERATED,
    );
    expect(closed(d1.receive(Frame.fromWire(wrongDomain)))).toMatchObject({
      code: "PEER_NOT_CONFIGURED",
      message: "dialed b.example, answered by c.example",
      remote: false,
    });
    // C answers claiming to be b.example with its own key: key mismatch.
    const cAsB = { ...C, domain: "b.example" };
    const d2 = dialer(A, B.entry, "d2");
    const seen = run(d2, acceptor(cAsB, policyOf(B, [A])));
    expect(closed(seen.dialer)).toMatchObject({ code: "HUB_KEY_MISMATCH", remote: false });
    expect(up(seen.dialer)).toBeUndefined();
  });

  it("a replayed FED_CHALLENGE from an earlier handshake does not prove the key (fresh nonce)", () => {
    const first = dialer(A, B.entry, "one");
    const a1 = acceptor(B, policyOf(B, [A]), "acc1");
    const hello = first.start()[0] as { frame: Uint8Array };
    const challenge = a1.receive(Frame.fromWire(hello.frame))[0] as { frame: Uint8Array };
    // A second dial (new nonce) gets the recorded challenge.
    const second = dialer(A, B.entry, "two");
    second.start();
    const evs = second.receive(Frame.fromWire(challenge.frame));
    expect(closed(evs)).toMatchObject({ code: "BAD_HUB_SIGNATURE" });
  });

  it("a FED_PROOF signed over another acceptor nonce is refused", () => {
    const d = dialer(A, B.entry, "p1");
    const a = acceptor(B, policyOf(B, [A]), "p-acc");
    const hello = d.start()[0] as { frame: Uint8Array };
    a.receive(Frame.fromWire(hello.frame));
    // The dialer answers a challenge it got from an earlier acceptor session instead.
    const d2 = dialer(A, B.entry, "p2");
    const hello2 = d2.start()[0] as { frame: Uint8Array };
    const earlier = acceptor(B, policyOf(B, [A]), "p-old").receive(
      Frame.fromWire(hello2.frame),
    )[0] as { frame: Uint8Array };
    const proof = d2.receive(Frame.fromWire(earlier.frame))[0] as { frame: Uint8Array };
    expect(closed(a.receive(Frame.fromWire(proof.frame)))).toMatchObject({
      code: "BAD_HUB_SIGNATURE",
      peer: "a.example",
    });
  });

  it("refuses a FED_HELLO addressed to another hub, and frames out of order", () => {
    const toC = LinkEndpoint.dialer({
      self: A,
      peer: { ...B.entry, domain: "c.example" },
      rng: rng("x"),
      bucketFor: buckets(),
    });
    expect(closed(run(toC, acceptor()).acceptor)).toMatchObject({
      code: "PEER_NOT_CONFIGURED",
      message: "this hub is b.example, not c.example",
    });
    const proofFirst = hubFrame(
      A.signer,
      Opcode.FED_PROOF,
      0n,
      0n,
      encodePayload(Opcode.FED_PROOF, { signature: new Uint8Array(64) }),
      Flag.FEDERATED,
    );
    expect(closed(acceptor().receive(Frame.fromWire(proofFirst)))).toMatchObject({
      code: "BAD_PAYLOAD",
    });
    const d = dialer();
    d.start();
    expect(closed(d.receive(Frame.fromWire(proofFirst)))).toMatchObject({ code: "BAD_PAYLOAD" });
  });

  it("after a refusal an end ignores further frames; the ERROR it sends decodes to the code", () => {
    const a = acceptor(B, policyOf(B, [C]));
    const d = dialer();
    const hello = d.start()[0] as { frame: Uint8Array };
    const evs = a.receive(Frame.fromWire(hello.frame));
    const err = evs.find((e) => e.kind === "send") as { frame: Uint8Array };
    const payload = decodePayload(Opcode.ERROR, Frame.fromWire(err.frame).payload);
    expect(payload).toMatchObject({ code: 700, name: "PEER_NOT_CONFIGURED" });
    expect(a.receive(Frame.fromWire(hello.frame))).toEqual([]);
  });

  it("never brings a link up nor throws on arbitrary frames (property)", () => {
    const opcodes = [
      Opcode.FED_HELLO,
      Opcode.FED_CHALLENGE,
      Opcode.FED_PROOF,
      Opcode.FED_LINK_OK,
      Opcode.ERROR,
      Opcode.HELLO,
    ];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            op: fc.constantFrom(...opcodes),
            payload: fc.uint8Array({ maxLength: 200 }),
            flags: fc.constantFrom(0, Flag.FEDERATED),
          }),
          { maxLength: 5 },
        ),
        (frames) => {
          const ends = [
            acceptor(),
            (() => {
              const d = dialer();
              d.start();
              return d;
            })(),
          ];
          for (const end of ends) {
            for (const f of frames) {
              const bytes = hubFrame(C.signer, f.op, 0n, 0n, f.payload, f.flags);
              const evs = end.receive(Frame.fromWire(bytes));
              expect(up(evs)).toBeUndefined();
            }
            expect(end.up).toBeUndefined();
          }
        },
      ),
      { seed: 18, numRuns: 200 },
    );
  });
});

describe("an up link", () => {
  it("passes hub frames to the core and drops device frames and frames past the peer's rate", () => {
    const b = buckets(undefined, 1, 3);
    const d = LinkEndpoint.dialer({ self: A, peer: B.entry, rng: rng("r"), bucketFor: buckets() });
    const a = LinkEndpoint.acceptor({
      self: B,
      policy: policyOf(B, [A]),
      rng: rng("ra"),
      bucketFor: b,
    });
    run(d, a);
    const envelope = hubFrame(
      A.signer,
      Opcode.FED_ENVELOPE,
      7n,
      0n,
      new Uint8Array([0xa0]),
      Flag.FEDERATED,
    );
    const deviceFrame = hubFrame(A.signer, Opcode.FED_ENVELOPE, 7n, 0n, new Uint8Array([0xa0]), 0);
    expect(a.receive(Frame.fromWire(deviceFrame))).toEqual([
      {
        kind: "dropped",
        peer: "a.example",
        code: "FORBIDDEN",
        message: "links carry hub frames (sender 0, FEDERATED)",
      },
    ]);
    const kinds = [1, 2, 3, 4].map(() => a.receive(Frame.fromWire(envelope))[0]?.kind);
    // A burst of 3, then RATE_LIMITED (the bucket outlives this link: it is the peer's).
    expect(kinds).toEqual(["frame", "frame", "frame", "dropped"]);
    const passed = a.receive(Frame.fromWire(envelope));
    expect(passed[0]).toMatchObject({ kind: "dropped", code: "RATE_LIMITED" });
    const first = LinkEndpoint.acceptor({
      self: B,
      policy: policyOf(B, [A]),
      rng: rng("rb"),
      bucketFor: b,
    });
    run(
      LinkEndpoint.dialer({ self: A, peer: B.entry, rng: rng("r2"), bucketFor: buckets() }),
      first,
    );
    expect(first.receive(Frame.fromWire(envelope))[0]).toMatchObject({
      kind: "dropped",
      code: "RATE_LIMITED",
    });
  });

  it("hands the frame's exact bytes to the core", () => {
    const d = dialer();
    const a = acceptor();
    run(d, a);
    const envelope = hubFrame(
      A.signer,
      Opcode.FED_ENVELOPE,
      7n,
      0n,
      new Uint8Array([0xa0]),
      Flag.FEDERATED,
    );
    const evs = a.receive(Frame.fromWire(envelope));
    expect(evs).toEqual([{ kind: "frame", peer: "a.example", bytes: envelope }]);
  });
});
