/**
 * Session caps per source address and per user (hub/connectionCaps.ts), and the address a
 * listener counts (runtime/node/connectionGate.ts `peerHost`).
 */
import { describe, expect, it } from "vitest";
import { ConnectionCaps } from "../../src/hub/connectionCaps.js";
import { peerHost } from "../../src/runtime/node/connectionGate.js";

describe("ConnectionCaps", () => {
  it("refuses the address at its cap and admits it again once a session is gone", () => {
    const caps = new ConnectionCaps({ maxConnectionsPerIp: 2, maxSessionsPerUser: 0 });
    caps.addPeer("s1", "10.0.0.1");
    caps.addPeer("s1", "10.0.0.1"); // counted once
    expect(caps.refusePeer("10.0.0.1")).toBeUndefined();
    caps.addPeer("s2", "10.0.0.1");
    expect(caps.refusePeer("10.0.0.1")).toMatch(/maximum of 2/);
    expect(caps.refusePeer("10.0.0.2")).toBeUndefined();
    caps.remove("s1");
    expect(caps.peerCount("10.0.0.1")).toBe(1);
    expect(caps.refusePeer("10.0.0.1")).toBeUndefined();
    caps.remove("s2");
    caps.remove("s2");
    expect(caps.peerCount("10.0.0.1")).toBe(0);
  });

  it("counts a user's sessions, not a repeated handshake, and follows a session that changes user", () => {
    const caps = new ConnectionCaps({ maxConnectionsPerIp: 0, maxSessionsPerUser: 1 });
    expect(caps.refuseUser("s1", "alice")).toBeUndefined();
    caps.addUser("s1", "alice");
    expect(caps.refuseUser("s1", "alice")).toBeUndefined(); // the same session again
    expect(caps.refuseUser("s2", "alice")).toMatch(/maximum of 1/);
    caps.addUser("s1", "bob");
    expect(caps.userCount("alice")).toBe(0);
    expect(caps.userCount("bob")).toBe(1);
    caps.removeUser("s1");
    expect(caps.refuseUser("s2", "bob")).toBeUndefined();
  });

  it("0 means no cap; reconfigure applies to the next check", () => {
    const caps = new ConnectionCaps({ maxConnectionsPerIp: 0, maxSessionsPerUser: 0 });
    for (let i = 0; i < 100; i++) {
      caps.addPeer(`s${i}`, "::1");
      caps.addUser(`s${i}`, "alice");
    }
    expect(caps.refusePeer("::1")).toBeUndefined();
    expect(caps.refuseUser("s100", "alice")).toBeUndefined();
    caps.reconfigure({ maxConnectionsPerIp: 100, maxSessionsPerUser: 101 });
    expect(caps.refusePeer("::1")).toMatch(/maximum of 100/);
    expect(caps.refuseUser("s100", "alice")).toBeUndefined();
  });
});

describe("peerHost", () => {
  it("takes the address a socket reports, or the address of WebTransport's address:port", () => {
    expect(peerHost("127.0.0.2")).toBe("127.0.0.2");
    expect(peerHost("::ffff:127.0.0.2")).toBe("127.0.0.2");
    expect(peerHost("::1")).toBe("::1");
    expect(peerHost("127.0.0.2:50123", true)).toBe("127.0.0.2");
    expect(peerHost("::1:50123", true)).toBe("::1");
    expect(peerHost("[2001:db8::1]:443", true)).toBe("2001:db8::1");
    expect(peerHost("::ffff:10.1.2.3:9", true)).toBe("10.1.2.3");
    expect(peerHost(undefined)).toBeUndefined();
    expect(peerHost("")).toBeUndefined();
    expect(peerHost("undefined:undefined", true)).toBeUndefined();
    expect(peerHost("noport", true)).toBeUndefined();
  });
});
