import { describe, expect, it } from "vitest";
import { domainOf } from "../../src/identity/userId.js";
import { replicaPeers } from "../../src/sequencer/replicaPeers.js";

const users = new Map<bigint, string>([
  [1n, "alice@a.example"],
  [2n, "bob@B.example"],
  [3n, "bob@b.example"],
  [4n, "carol@c.example"],
  [5n, "dave"],
]);

describe("replicaPeers: the other hubs of a room (DESIGN §11)", () => {
  it("groups member and fan-out devices by their user's domain, leaving local ones out", () => {
    const peers = replicaPeers("a.example", [1n, 2n, 3n, 5n], [2n, 5n], 1n, users);
    expect(peers).toEqual([{ domain: "b.example", members: [2n, 3n], fanout: [2n] }]);
  });

  it("keeps the sender's hub (its replica) and a removed device's hub", () => {
    const peers = replicaPeers("a.example", [1n], [4n], 3n, users);
    expect(peers).toEqual([
      { domain: "c.example", members: [], fanout: [4n] },
      { domain: "b.example", members: [], fanout: [] },
    ]);
  });

  it("is empty for a room of one hub, or for devices it cannot place", () => {
    expect(replicaPeers("a.example", [1n, 5n, 9n], [5n, 9n], 1n, users)).toEqual([]);
    expect(replicaPeers("a.example", [], [], 0n, users)).toEqual([]);
  });

  it("domainOf: after the last @, lower-cased; bare names have none", () => {
    expect(domainOf("x@y@Z.example")).toBe("z.example");
    expect(domainOf("dave")).toBeUndefined();
    expect(domainOf("trailing@")).toBeUndefined();
  });
});
