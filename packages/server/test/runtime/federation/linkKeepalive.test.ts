/**
 * The link keepalive (runtime/node/federation/linkKeepalive.ts) on a manual clock: PING every
 * interval, PONG answered with the nonce and timed, a silent peer declared dead after two
 * intervals, a forged PING neither answered nor taken for the core.
 */
import { createDeviceSigner, decodePayload, Flag, Frame, hubFrame, Opcode } from "@kalandra/proto";
import { ManualTime } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { LinkKeepalive } from "../../../src/runtime/node/federation/linkKeepalive.js";

const us = createDeviceSigner(new Uint8Array(32).fill(1));
const peer = createDeviceSigner(new Uint8Array(32).fill(2));
const stranger = createDeviceSigner(new Uint8Array(32).fill(3));

function setup() {
  const time = new ManualTime();
  const sent: Frame[] = [];
  const rtts: number[] = [];
  const dead: number[] = [];
  const ka = new LinkKeepalive({
    clock: time,
    timers: time,
    intervalMs: 100,
    signer: us,
    peerKey: peer.publicKey,
    send: (b) => sent.push(Frame.fromWire(b)),
    rtt: (ms) => rtts.push(ms),
    dead: (ms) => dead.push(ms),
  });
  return { time, sent, rtts, dead, ka };
}

const frameOf = (signer: typeof peer, opcode: Opcode, nonce: number, flags: number) =>
  Frame.fromWire(hubFrame(signer, opcode, 0n, 0n, { nonce }, flags));

describe("LinkKeepalive", () => {
  it("pings every interval, times the PONG and stays up while the peer answers", () => {
    const { time, sent, rtts, dead, ka } = setup();
    ka.start();
    time.advance(100);
    for (let i = 1; i <= 5; i++) {
      const ping = sent.at(-1);
      expect(ping?.header.opcode).toBe(Opcode.PING);
      expect((ping?.header.flags ?? 0) & Flag.FEDERATED).toBe(Flag.FEDERATED);
      const { nonce } = decodePayload(Opcode.PING, ping?.payload ?? new Uint8Array());
      time.advance(7);
      ka.heard();
      expect(ka.take(frameOf(peer, Opcode.PONG, nonce, Flag.FEDERATED | Flag.RESPONSE))).toBe(true);
      time.advance(93);
    }
    expect(sent).toHaveLength(6);
    expect(rtts).toEqual([7, 7, 7, 7, 7]);
    expect(dead).toEqual([]);
  });

  it("declares a silent peer dead after two intervals and stops", () => {
    const { time, sent, dead, ka } = setup();
    ka.start();
    time.advance(100);
    time.advance(100);
    expect(dead).toEqual([200]);
    time.advance(1000);
    expect(sent).toHaveLength(1); // one PING, then nothing: it stopped
  });

  it("answers the peer's PING with a signed PONG of the same nonce; ignores a forged one", () => {
    const { sent, ka } = setup();
    expect(ka.take(frameOf(peer, Opcode.PING, 42, Flag.FEDERATED))).toBe(true);
    const pong = sent[0];
    expect(pong?.header.opcode).toBe(Opcode.PONG);
    expect(decodePayload(Opcode.PONG, pong?.payload ?? new Uint8Array()).nonce).toBe(42);
    expect(pong?.header.senderId).toBe(0n);
    expect(ka.take(frameOf(stranger, Opcode.PING, 43, Flag.FEDERATED))).toBe(true);
    expect(sent).toHaveLength(1);
    const other = Frame.fromWire(hubFrame(peer, Opcode.FED_ENVELOPE, 0n, 0n, new Uint8Array()));
    expect(ka.take(other)).toBe(false);
  });
});
