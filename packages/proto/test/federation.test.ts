import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cborDecode, cborEncode } from "../src/cbor.js";
import { HEADER_SIZE } from "../src/constants.js";
import { ProtocolError } from "../src/errors.js";
import {
  forwardEnvelope,
  linkTranscript,
  openEnvelope,
  positionView,
  relayView,
  sealEnvelope,
  signPosition,
  verifyPosition,
  verifyRelayed,
} from "../src/federation.js";
import { encodeFrame, Frame } from "../src/frame.js";
import { stampSequence } from "../src/header.js";
import { ackFrame } from "../src/hubFrames.js";
import { Flag, Opcode } from "../src/opcodes.js";
import { decodePayload, encodePayload } from "../src/payloads/codec.js";
import { generateDeviceKey, signedView, signFrame, verifyFrame } from "../src/signing.js";
import { fcParams, seededRng } from "./helpers.js";

const hubA = generateDeviceKey(seededRng("fed/hub-a"));
const hubB = generateDeviceKey(seededRng("fed/hub-b"));
const alice = generateDeviceKey(seededRng("fed/alice"));

function appMessage(logIndex = 0n, hlc = 0n): Uint8Array {
  const f = encodeFrame(
    {
      opcode: Opcode.APP_MESSAGE,
      requestId: 9,
      roomId: 0xabcn,
      senderId: alice.senderId,
      epoch: 3n,
      payload: encodePayload(Opcode.APP_MESSAGE, { generation: 1, ciphertext: new Uint8Array(8) }),
    },
    alice.signer,
  );
  if (logIndex !== 0n || hlc !== 0n) stampSequence(f, logIndex, hlc);
  return f;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return (e as ProtocolError).code;
  }
  return undefined;
}

describe("hub signatures cover the whole header (DESIGN §3)", () => {
  it("a hub ACK's signature binds log_index and hlc_timestamp", () => {
    const ack = ackFrame({ requestId: 1, roomId: 5n, epoch: 2n }, 17n, 99n);
    signFrame(ack, hubA.signer);
    expect(signedView(ack).subarray(36, 52)).toEqual(ack.subarray(36, 52));
    expect(verifyFrame(Frame.fromWire(ack), hubA.publicKey)).toBe(true);
    const moved = ack.slice();
    stampSequence(moved, 18n, 99n);
    expect(verifyFrame(Frame.fromWire(moved), hubA.publicKey)).toBe(false);
  });

  it("property: any flip of the header's position bytes breaks a hub signature", () => {
    fc.assert(
      fc.property(fc.integer({ min: 36, max: 51 }), fc.nat({ max: 7 }), (at, bit) => {
        const ack = ackFrame({ requestId: 1, roomId: 5n }, 3n, 4n);
        signFrame(ack, hubA.signer);
        ack[at]! ^= 1 << bit;
        return !verifyFrame(Frame.fromWire(ack), hubA.publicKey);
      }),
      fcParams(60),
    );
  });
});

describe("position proofs", () => {
  it("verify for the signed (term, frame) only", () => {
    const f = appMessage(41n, 7n);
    const sig = signPosition(hubA.signer, 3n, f);
    expect(verifyPosition(hubA.publicKey, 3n, f, sig)).toBe(true);
    expect(verifyPosition(hubA.publicKey, 4n, f, sig)).toBe(false);
    expect(verifyPosition(hubB.publicKey, 3n, f, sig)).toBe(false);
    expect(verifyPosition(hubA.publicKey, 3n, appMessage(42n, 7n), sig)).toBe(false);
    expect(verifyPosition(hubA.publicKey, 3n, f, sig.subarray(0, 63))).toBe(false);
    expect(positionView(3n, f).subarray(-f.length)).toEqual(f);
  });
});

describe("link transcripts", () => {
  const t = {
    dialer: "a.example",
    acceptor: "b.example",
    dialerKey: hubA.publicKey,
    acceptorKey: hubB.publicKey,
    dialerNonce: new Uint8Array(32).fill(1),
    acceptorNonce: new Uint8Array(32).fill(2),
  };
  it("differ by side, by domains and by nonces", () => {
    const c = linkTranscript("challenge", t);
    expect(linkTranscript("proof", t)).not.toEqual(c);
    expect(
      linkTranscript("challenge", { ...t, dialer: "a.exampl", acceptor: "eb.example" }),
    ).not.toEqual(c);
    expect(linkTranscript("challenge", { ...t, dialerNonce: new Uint8Array(32) })).not.toEqual(c);
    expect(linkTranscript("challenge", t)).toEqual(c);
  });
  it("reject malformed keys and nonces with a TypeError", () => {
    expect(() => linkTranscript("proof", { ...t, dialerNonce: new Uint8Array(31) })).toThrow(
      TypeError,
    );
    expect(() => linkTranscript("proof", { ...t, acceptorKey: new Uint8Array(3) })).toThrow(
      TypeError,
    );
  });
});

describe("envelopes", () => {
  const base = { origin: "a.example", forwardedAt: 1_000n, hops: 1 };

  it("round-trip: the inner frame untouched, the header mirrors it, all fields kept", () => {
    const inner = appMessage(41n, 7n);
    const wire = sealEnvelope(hubA.signer, {
      ...base,
      frame: inner,
      userId: "alice@a.example",
      deviceKey: alice.publicKey,
      term: 2n,
      positionSig: signPosition(hubA.signer, 2n, inner),
      to: [5n, 6n],
      termStarts: [
        [2n, 7n],
        [5n, 40n],
      ],
    });
    const outer = Frame.fromWire(wire).header;
    expect(outer.flags).toBe(Flag.FEDERATED);
    expect(outer.senderId).toBe(0n);
    expect([outer.roomId, outer.logIndex, outer.hlcTimestamp, outer.epoch]).toEqual([
      0xabcn,
      41n,
      7n,
      3n,
    ]);
    const { envelope, inner: got } = openEnvelope(wire, hubA.publicKey, { maxHops: 3 });
    expect(got.toWire()).toEqual(inner);
    expect(verifyFrame(got, alice.publicKey)).toBe(true);
    expect(envelope.user_id).toBe("alice@a.example");
    expect(envelope.to).toEqual([5n, 6n]);
    expect(envelope.term_starts).toEqual([
      { term: 2n, start: 7n },
      { term: 5n, start: 40n },
    ]);
    expect(
      verifyPosition(hubA.publicKey, envelope.term!, envelope.frame, envelope.position_sig!),
    ).toBe(true);
  });

  it("refuses a wrong key, too many hops and a tampered envelope with typed errors", () => {
    const wire = sealEnvelope(hubA.signer, { ...base, frame: appMessage() });
    expect(codeOf(() => openEnvelope(wire, hubB.publicKey, { maxHops: 3 }))).toBe(
      "BAD_HUB_SIGNATURE",
    );
    const far = sealEnvelope(hubA.signer, { ...base, hops: 4, frame: appMessage() });
    expect(codeOf(() => openEnvelope(far, hubA.publicKey, { maxHops: 3 }))).toBe("TOO_MANY_HOPS");
    const zero = sealEnvelope(hubA.signer, { ...base, hops: 0, frame: appMessage() });
    expect(codeOf(() => openEnvelope(zero, hubA.publicKey, { maxHops: 3 }))).toBe("TOO_MANY_HOPS");
    const moved = wire.slice();
    stampSequence(moved, 1n, 0n); // header no longer what A signed
    expect(codeOf(() => openEnvelope(moved, hubA.publicKey, { maxHops: 3 }))).toBe(
      "BAD_HUB_SIGNATURE",
    );
  });

  it("refuses a non-envelope, a header that disagrees with its inner frame, and nesting", () => {
    const notEnvelope = appMessage();
    expect(codeOf(() => openEnvelope(notEnvelope, alice.publicKey, { maxHops: 3 }))).toBe(
      "BAD_PAYLOAD",
    );
    // A hub-signed envelope whose header claims another position than its inner frame's.
    const lying = sealEnvelope(hubA.signer, { ...base, frame: appMessage(5n, 1n) });
    stampSequence(lying, 6n, 1n);
    signFrame(lying, hubA.signer);
    expect(codeOf(() => openEnvelope(lying, hubA.publicKey, { maxHops: 3 }))).toBe("BAD_PAYLOAD");
    const inner = sealEnvelope(hubA.signer, { ...base, frame: appMessage() });
    const nested = sealEnvelope(hubA.signer, { ...base, frame: inner });
    expect(codeOf(() => openEnvelope(nested, hubA.publicKey, { maxHops: 3 }))).toBe("BAD_PAYLOAD");
  });

  it("property: random bytes, truncations and flips never open and only raise ProtocolError", () => {
    const good = sealEnvelope(hubA.signer, { ...base, frame: appMessage(2n, 3n) });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc.nat({ max: good.length - 1 }).map((n) => good.subarray(0, n)),
          fc
            .tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }))
            .filter(([at]) => at < 64 || at >= HEADER_SIZE)
            .map(([at, x]) => {
              const b = good.slice();
              b[at]! ^= x;
              return b;
            }),
        ),
        (bytes) => {
          expect(codeOf(() => openEnvelope(bytes, hubA.publicKey, { maxHops: 3 }))).toBeDefined();
        },
      ),
      fcParams(300),
    );
  });

  it("refuses an envelope with a field this version does not know, though its signature holds", () => {
    // Strict on purpose (docs/federation.md "Versions across hubs"): every optional field
    // so far is one its sender relies on being acted upon, and `origin_sig` covers the
    // re-encoded fields, so a field dropped on decoding could not be verified either.
    const inner = appMessage();
    const fields = encodePayload(Opcode.FED_ENVELOPE, {
      origin: "a.example",
      forwarded_at: 1n,
      hops: 1,
      frame: inner,
    });
    const h = Frame.fromWire(inner).header;
    const seal = (payload: Uint8Array) =>
      encodeFrame(
        {
          flags: Flag.FEDERATED,
          opcode: Opcode.FED_ENVELOPE,
          requestId: h.requestId,
          roomId: h.roomId,
          senderId: 0n,
          epoch: h.epoch,
          payload,
        },
        hubA.signer,
      );
    expect(openEnvelope(seal(fields), hubA.publicKey, { maxHops: 3 }).envelope.hops).toBe(1);
    const wire = seal(cborEncode({ ...(cborDecode(fields) as object), priority: 1 }));
    expect(verifyFrame(Frame.fromWire(wire), hubA.publicKey)).toBe(true);
    expect(codeOf(() => openEnvelope(wire, hubA.publicKey, { maxHops: 3 }))).toBe("BAD_PAYLOAD");
  });

  it("decodes a federation payload strictly", () => {
    const bad = encodePayload(Opcode.FED_PROOF, { signature: new Uint8Array(64) });
    expect(decodePayload(Opcode.FED_PROOF, bad).signature.length).toBe(64);
    expect(codeOf(() => decodePayload(Opcode.FED_HELLO, bad))).toBe("BAD_PAYLOAD");
  });
});

describe("relayed envelopes (onward relay)", () => {
  const hubC = generateDeviceKey(seededRng("fed/hub-c"));
  const base = { origin: "a.example", forwardedAt: 1_000n, hops: 1, dest: "c.example" };
  const request = () =>
    sealEnvelope(hubA.signer, {
      ...base,
      frame: appMessage(),
      userId: "alice@a.example",
      deviceKey: alice.publicKey,
    });

  it("a relay forwards the origin's envelope one hop on; the destination verifies the origin", () => {
    const atB = openEnvelope(request(), hubA.publicKey, { maxHops: 3 });
    expect(atB.envelope.dest).toBe("c.example");
    const wire = forwardEnvelope(hubB.signer, atB.envelope);
    const atC = openEnvelope(wire, hubB.publicKey, { maxHops: 3 });
    expect(atC.envelope.hops).toBe(2);
    expect(atC.inner.toWire()).toEqual(appMessage());
    expect(atC.envelope.origin).toBe("a.example");
    expect(verifyRelayed(hubA.publicKey, atC.envelope)).toBe(true);
    expect(verifyRelayed(hubB.publicKey, atC.envelope)).toBe(false);
    // The relay's own signature is the outer one: C's link to B checks it, not A's key.
    expect(codeOf(() => openEnvelope(wire, hubA.publicKey, { maxHops: 3 }))).toBe(
      "BAD_HUB_SIGNATURE",
    );
    // One more hop than max_hops: refused typed.
    const third = forwardEnvelope(hubC.signer, { ...atC.envelope, hops: 3 });
    expect(codeOf(() => openEnvelope(third, hubC.publicKey, { maxHops: 3 }))).toBe("TOO_MANY_HOPS");
  });

  it("property: a relay changing any field the origin sealed breaks the origin's signature", () => {
    const sealed = openEnvelope(request(), hubA.publicKey, { maxHops: 3 }).envelope;
    const forgeries = fc.oneof(
      fc.constantFrom("b.example", "x.example", "a.exampl").map((origin) => ({ origin })),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((forwarded_at) => ({ forwarded_at })),
      fc.constantFrom("d.example", "b.example").map((dest) => ({ dest })),
      fc.constantFrom("mallory@a.example", "alice@b.example").map((user_id) => ({ user_id })),
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((device_key) => ({ device_key })),
      fc.array(fc.bigInt({ min: 0n, max: 99n }), { maxLength: 3 }).map((to) => ({ to })),
      fc.bigInt({ min: 0n, max: 9n }).map((term) => ({ term })),
      fc.constant({ frame: appMessage(1n, 1n) }),
    );
    fc.assert(
      fc.property(forgeries, fc.integer({ min: 1, max: 5 }), (change, hops) => {
        const forged = { ...sealed, ...change, hops };
        // Hops alone is the relays' to change; every other field is the origin's word.
        expect(verifyRelayed(hubA.publicKey, { ...sealed, hops })).toBe(true);
        const same = relayView(forged).every((b, i) => b === relayView(sealed)[i]);
        if (!same) expect(verifyRelayed(hubA.publicKey, forged)).toBe(false);
      }),
      fcParams(120),
    );
  });

  it("property: relayed envelopes round-trip through the codec with the signature intact", () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            user_id: fc.string({ maxLength: 20 }),
            term: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
            to: fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 4 }),
            members: fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 4 }),
            room_state: fc.uint8Array({ maxLength: 40 }),
          },
          { requiredKeys: [] },
        ),
        fc.string({ minLength: 1, maxLength: 30 }),
        (extra, dest) => {
          const e = {
            ...extra,
            ...(extra.room_state === undefined ? {} : { roomState: extra.room_state }),
          };
          const wire = sealEnvelope(hubA.signer, {
            ...base,
            dest,
            frame: appMessage(),
            ...(e.user_id === undefined ? {} : { userId: e.user_id }),
            ...(e.term === undefined ? {} : { term: e.term }),
            ...(e.to === undefined ? {} : { to: e.to }),
            ...(e.members === undefined ? {} : { members: e.members }),
            ...(e.roomState === undefined ? {} : { roomState: e.roomState }),
          });
          const opened = openEnvelope(wire, hubA.publicKey, { maxHops: 3 }).envelope;
          const again = decodePayload(
            Opcode.FED_ENVELOPE,
            encodePayload(Opcode.FED_ENVELOPE, opened),
          );
          expect(again).toEqual(opened);
          const relayed = openEnvelope(forwardEnvelope(hubB.signer, opened), hubB.publicKey, {
            maxHops: 3,
          }).envelope;
          expect(verifyRelayed(hubA.publicKey, relayed)).toBe(true);
        },
      ),
      fcParams(80),
    );
  });

  it("refuses dest without origin_sig and a relayed hop count without either", () => {
    const plain = sealEnvelope(hubA.signer, { ...base, dest: undefined, frame: appMessage() });
    const opened = openEnvelope(plain, hubA.publicKey, { maxHops: 3 }).envelope;
    expect(opened.dest).toBeUndefined();
    const hopped = forwardEnvelope(hubB.signer, opened);
    expect(codeOf(() => openEnvelope(hopped, hubB.publicKey, { maxHops: 3 }))).toBe("BAD_PAYLOAD");
    const { origin_sig: _s, ...unsigned } = openEnvelope(request(), hubA.publicKey, {
      maxHops: 3,
    }).envelope;
    const half = forwardEnvelope(hubB.signer, { ...unsigned, hops: 0 });
    expect(codeOf(() => openEnvelope(half, hubB.publicKey, { maxHops: 3 }))).toBe("BAD_PAYLOAD");
    expect(verifyRelayed(hubA.publicKey, unsigned)).toBe(false);
  });
});
