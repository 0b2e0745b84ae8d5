/**
 * Issue 18 (f), real processes: a room's certificate chain (TERM_CHAIN_FETCH → TERM_CHAIN)
 * is answered only to hubs that may know the room. Three kalandrad hubs and a fourth
 * configured peer, `0.example`, played by the test process (fakePeer.ts) with no member in
 * the room. After the room moved A → B (so B holds a certificate naming the voters),
 * 0.example asks B for the room's chain and for a room that does not exist: both answers
 * are the same empty chain (no existence leak), and B's /metrics counts both as withheld
 * (`kalandra_federation_term_chain_fetches_total`) and as UNKNOWN_ROOM refusals.
 */
import { decodePayload, hubFrame, Opcode } from "@kalandra/proto";
import { expect, it } from "vitest";
import { FakePeer } from "./fakePeer.js";
import { federationForFile, until } from "./federation.js";

const federation = federationForFile("e2e-federation-chain-audience");

it("a configured peer outside the room learns nothing of its term chain", async () => {
  const outsider = new FakePeer("0.example");
  const f = await federation.create(["a.example", "b.example", "c.example"], {
    env: { KALANDRA_SERVER__SHARD_RUNTIME: "in-process" },
    extraPeers: [outsider.peerEntry()],
  });
  await f.startAll();
  const { room } = await f.threeMemberRoom();
  const roomId = room.toString();
  const moved = await f.admin("a.example", "POST", "/admin/rooms/transfer", {
    room: roomId,
    to: "b.example",
  });
  expect(moved).toMatchObject({ status: 200, body: { ok: true, to: "b.example", term: "1" } });

  const b = f.hub("b.example");
  await outsider.link(b.websocket, "b.example", b.hubKey);
  const ask = (roomId: bigint) =>
    hubFrame(outsider.signer, Opcode.TERM_CHAIN_FETCH, roomId, 0n, { after_term: 0n });
  outsider.send(ask(room));
  outsider.send(ask(room ^ 0x5a5an));
  await until(
    () => outsider.received.filter((fr) => fr.header.opcode === Opcode.TERM_CHAIN).length === 2,
    "two TERM_CHAIN answers",
  );
  const [known, unknown] = outsider.received
    .filter((fr) => fr.header.opcode === Opcode.TERM_CHAIN)
    .map((fr) => ({ room: fr.header.roomId, ...decodePayload(Opcode.TERM_CHAIN, fr.payload) }));
  expect(known).toEqual({ room, certs: [] });
  expect(unknown).toEqual({ room: room ^ 0x5a5an, certs: [] });
  outsider.close();

  const metrics = await f.metrics("b.example");
  expect(metrics).toMatch(
    /kalandra_federation_term_chain_fetches_total\{direction="received",result="withheld"\} 2/,
  );
  expect(metrics).toMatch(/kalandra_federation_core_refusals_total\{code="UNKNOWN_ROOM"\} 2/);
});
