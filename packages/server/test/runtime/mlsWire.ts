/**
 * A member over a real WebTransport session to kalandrad: a ts-mls device (test/mls) whose
 * leaf signature key is its frame key (docs/contracts.md "Identity"), the auth handshake,
 * and requests matched to their responses by request id.
 */
import {
  createDeviceSigner,
  type DeviceSigner,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  Flag,
  HEADER_SIZE,
  Opcode,
  type PayloadOf,
} from "@kalandra/proto";
import { type CiphersuiteImpl, type ClientState, encodeMlsMessage } from "ts-mls";
import { readHeader } from "../../src/runtime/node/wire.js";
import { commit, type Device, device, type MadeCommit } from "../mls/mlsClients.js";
import { isOp, RawClient } from "./helpers.js";

export class WireMember {
  conn!: RawClient;
  state: ClientState | undefined;
  /** Request ids go on across reconnects: the hub remembers answers (idempotency). */
  private nextRequest = 10;

  private constructor(
    readonly name: string,
    readonly device: Device,
    readonly signer: DeviceSigner,
    readonly senderId: bigint,
  ) {}

  static async create(cs: CiphersuiteImpl, name: string): Promise<WireMember> {
    const d = await device(cs, name);
    const signer = createDeviceSigner(d.privatePackage.signaturePrivateKey.subarray(-32));
    return new WireMember(name, d, signer, deriveSenderId(signer.publicKey));
  }

  /** Opens a session and runs HELLO → AUTH_CHALLENGE → AUTH_RESPONSE → AUTH_OK. */
  async connect(port: number, certHash: Uint8Array): Promise<void> {
    this.conn = await RawClient.connect(port, certHash);
    const hello = this.frame(Opcode.HELLO, 0n, 0n, {
      device_key: this.signer.publicKey,
      user_id: this.name,
      client: "test",
    });
    await this.conn.send(hello);
    const ch = await this.conn.waitFor(isOp(Opcode.AUTH_CHALLENGE), 15_000);
    const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, ch.subarray(HEADER_SIZE));
    await this.conn.send(this.frame(Opcode.AUTH_RESPONSE, 0n, 0n, { nonce }));
    await this.conn.waitFor(isOp(Opcode.AUTH_OK), 15_000);
  }

  frame<Op extends Opcode>(
    opcode: Op,
    roomId: bigint,
    epoch: bigint,
    payload: PayloadOf<Op>,
  ): Uint8Array {
    return encodeFrame(
      {
        opcode,
        requestId: this.nextRequest++,
        roomId,
        senderId: this.senderId,
        epoch,
        payload: encodePayload(opcode, payload),
      },
      this.signer,
    );
  }

  /**
   * Commits the addition of `joiner` on `state` and sends that COMMIT, with its Welcome for
   * `joiner`, at `epoch`: the commit made and the hub's response.
   */
  async add(
    cs: CiphersuiteImpl,
    state: ClientState,
    roomId: bigint,
    epoch: bigint,
    joiner: WireMember,
  ): Promise<{ made: MadeCommit; response: Uint8Array }> {
    const made = await commit(cs, state, [
      { proposalType: "add", add: { keyPackage: joiner.device.publicPackage } },
    ]);
    const response = await this.request(
      this.frame(Opcode.COMMIT, roomId, epoch, {
        commit: made.commit,
        group_info: made.groupInfo,
        welcome: encodeMlsMessage(made.welcome!),
        welcome_recipients: [joiner.senderId],
      }),
    );
    return { made, response };
  }

  /** Sends a request and waits for its response (ACK, answer or ERROR). */
  async request(bytes: Uint8Array, ms = 15_000): Promise<Uint8Array> {
    const id = readHeader(bytes).requestId;
    const from = this.conn.frames.length;
    await this.conn.send(bytes);
    return this.conn.waitFor(
      (f) => {
        const h = readHeader(f);
        return h.requestId === id && (h.flags & Flag.RESPONSE) !== 0;
      },
      ms,
      from,
    );
  }

  /** Frames received since `from` matching opcode and room. */
  received(opcode: number, roomId: bigint, from = 0): Uint8Array[] {
    return this.conn.frames.slice(from).filter((f) => {
      const h = readHeader(f);
      return h.opcode === opcode && h.roomId === roomId;
    });
  }
}
