/**
 * A configured federation peer played by the test process (issue 18 (f)): it dials one
 * kalandrad hub's WebSocket listener, proves its hub key in the real link handshake
 * (LinkEndpoint, the code kalandrad runs), answers the hub's keepalive, sends hub frames in
 * federation envelopes and records the inner frames the hub sends it: what a hub of
 * another organisation can do with its own, correctly configured, key.
 */
import {
  createDeviceSigner,
  type DeviceSigner,
  decodePayload,
  Flag,
  Frame,
  hubFrame,
  Opcode,
  openEnvelope,
  sealEnvelope,
  systemClock,
  systemRng,
} from "@kalandra/proto";
import { LinkEndpoint, type LinkEvent, TokenBucket } from "@kalandra/server";
import { WebSocket } from "ws";

export class FakePeer {
  readonly signer: DeviceSigner;
  /** Inner frames the hub sent over the link (keepalive excluded). */
  readonly received: Frame[] = [];
  #ws: WebSocket | undefined;
  #up = false;

  constructor(readonly domain: string) {
    this.signer = createDeviceSigner(systemRng.bytes(32));
  }

  /**
   * The `[[federation.peers]]` entry hubs list for this peer. Its URL is never dialed: the
   * peer's domain must sort before theirs, so it is the side that dials (docs/federation.md).
   */
  peerEntry(): { domain: string; url: string; hub_key: string } {
    return {
      domain: this.domain,
      url: "ws://127.0.0.1:9/kalandra",
      hub_key: Buffer.from(this.signer.publicKey).toString("hex"),
    };
  }

  /** Dials the hub `peer` at `url` (its pinned key `hubKey`); resolves once linked. */
  link(url: string, peer: string, hubKey: Uint8Array): Promise<void> {
    const endpoint = LinkEndpoint.dialer({
      self: { domain: this.domain, signer: this.signer },
      peer: { domain: peer, hubKey },
      rng: systemRng,
      bucketFor: () => new TokenBucket(1000, 1000, systemClock),
    });
    const ws = new WebSocket(url, { perMessageDeflate: false });
    this.#ws = ws;
    return new Promise((resolve, reject) => {
      const run = (events: LinkEvent[]) => {
        for (const ev of events) {
          if (ev.kind === "send") ws.send(ev.frame);
          else if (ev.kind === "up") {
            this.#up = true;
            resolve();
          } else if (ev.kind === "frame") this.#take(ev.bytes, hubKey);
          else if (ev.kind === "closed") reject(new Error(`link closed: ${ev.code} ${ev.message}`));
        }
      };
      ws.on("open", () => run(endpoint.start()));
      ws.on("error", reject);
      ws.on("message", (data: Buffer) =>
        run(endpoint.receive(Frame.fromWire(new Uint8Array(data)))),
      );
    });
  }

  /** Sends a hub frame (signed by this peer) in an envelope over the link. */
  send(frame: Uint8Array): void {
    if (!this.#up || this.#ws === undefined) throw new Error("the link is not up");
    this.#ws.send(
      sealEnvelope(this.signer, { origin: this.domain, forwardedAt: 0n, hops: 1, frame }),
    );
  }

  close(): void {
    this.#ws?.close();
  }

  #take(bytes: Uint8Array, hubKey: Uint8Array): void {
    const frame = Frame.fromWire(bytes);
    const op = frame.header.opcode;
    if (op === Opcode.PING) {
      const { nonce } = decodePayload(Opcode.PING, frame.payload);
      const flags = Flag.FEDERATED | Flag.RESPONSE;
      const pong = hubFrame(
        this.signer,
        Opcode.PONG,
        0n,
        0n,
        { nonce },
        flags,
        frame.header.requestId,
      );
      this.#ws?.send(pong);
      return;
    }
    if (op === Opcode.PONG) return;
    this.received.push(openEnvelope(bytes, hubKey, { maxHops: 3 }).inner);
  }
}
