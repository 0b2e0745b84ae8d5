import { describe, expect, it } from "vitest";
import { staticPeerPolicy } from "../../src/federation/peerPolicy.js";

const key = (v: number) => new Uint8Array(32).fill(v);

describe("staticPeerPolicy", () => {
  const peers = [
    { domain: "b.example", hubKey: key(2) },
    { domain: "c.example", hubKey: key(3) },
  ];

  it("admits a configured peer with its pinned key, case-insensitively", () => {
    const p = staticPeerPolicy({ domain: "a.example", peers });
    expect(p.admit("B.Example")).toEqual({ ok: true, hubKey: key(2) });
    expect(p.maxHops).toBe(3);
  });

  it("refuses unknown domains and itself as PEER_NOT_CONFIGURED", () => {
    const p = staticPeerPolicy({ domain: "a.example", peers });
    expect(p.admit("d.example")).toMatchObject({ ok: false, code: "PEER_NOT_CONFIGURED" });
    expect(p.admit("a.example")).toMatchObject({ ok: false, code: "PEER_NOT_CONFIGURED" });
  });

  it("refuses blocked and non-allowed domains as PEER_BLOCKED, even when configured", () => {
    expect(
      staticPeerPolicy({ domain: "a.example", peers, block: ["c.example"] }).admit("c.example"),
    ).toMatchObject({ ok: false, code: "PEER_BLOCKED" });
    const allowB = staticPeerPolicy({ domain: "a.example", peers, allow: ["b.example"] });
    expect(allowB.admit("c.example")).toMatchObject({ ok: false, code: "PEER_BLOCKED" });
    expect(allowB.admit("b.example").ok).toBe(true);
  });

  it("rejects bad configuration", () => {
    expect(() => staticPeerPolicy({ domain: "a", peers, maxHops: 0 })).toThrow(RangeError);
    expect(() =>
      staticPeerPolicy({ domain: "a", peers: [{ domain: "b", hubKey: new Uint8Array(3) }] }),
    ).toThrow(TypeError);
  });
});

describe("staticPeerPolicy routes (onward relay)", () => {
  it("names the via of a routed peer, and refuses a via that is not a direct peer", () => {
    const p = staticPeerPolicy({
      domain: "a.example",
      peers: [
        { domain: "b.example", hubKey: key(2) },
        { domain: "C.example", hubKey: key(3), via: "B.example" },
      ],
    });
    expect(p.via?.("c.example")).toBe("b.example");
    expect(p.via?.("b.example")).toBeUndefined();
    expect(p.routed?.()).toEqual(["c.example"]);
    expect(() =>
      staticPeerPolicy({
        domain: "a.example",
        peers: [{ domain: "c.example", hubKey: key(3), via: "b.example" }],
      }),
    ).toThrow(RangeError);
    expect(() =>
      staticPeerPolicy({
        domain: "a.example",
        peers: [
          { domain: "b.example", hubKey: key(2), via: "d.example" },
          { domain: "d.example", hubKey: key(4) },
          { domain: "c.example", hubKey: key(3), via: "b.example" },
        ],
      }),
    ).toThrow(RangeError);
  });
});
