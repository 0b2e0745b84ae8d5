/**
 * The device's handshake on a fresh WebTransport session (docs/operations.md "Sessions"):
 * HELLO → AUTH_CHALLENGE (answers the HELLO, carries a fresh nonce and the hub key) →
 * AUTH_RESPONSE (echoes the nonce, signed by the device) → AUTH_OK. Frames read from the
 * stream are handed to `receive` until `authenticated`; the stream's end to `abort`.
 */
import {
  bytesEqual,
  type DeviceSigner,
  decodeErrorPayload,
  decodePayload,
  encodeFrame,
  encodePayload,
  Flag,
  type Frame,
  Opcode,
  verifyFrame,
} from "@kalandra/proto";
import type { HelloAuthProvider } from "../state/helloAuth.js";
import { TransportError } from "./errors.js";

export interface SessionHandshakeOptions {
  deviceSigner: DeviceSigner;
  senderId: bigint;
  userId: string;
  /** Client name sent in HELLO. */
  client: string;
  /** What HELLO presents to prove the user (DESIGN §10); none for a bound device. */
  auth?: HelloAuthProvider | undefined;
  /** When given, the hub must present this key and sign its handshake frames with it. */
  hubPublicKey: Uint8Array | undefined;
  /** Writes a frame to the session's stream. */
  write(frame: Uint8Array): Promise<void>;
  /** The next request id from the transport's reserved range. */
  nextRequestId(): number;
}

export class SessionHandshake {
  readonly #o: SessionHandshakeOptions;
  #pending: ((f: Frame) => void) | undefined;
  #fail: ((e: Error) => void) | undefined;
  #authenticated = false;

  constructor(o: SessionHandshakeOptions) {
    this.#o = o;
  }

  /** True from AUTH_OK on: frames read after it belong to the client. */
  get authenticated(): boolean {
    return this.#authenticated;
  }

  /** A frame read before AUTH_OK (anything but the awaited answer is ignored). */
  receive(f: Frame): void {
    this.#pending?.(f);
  }

  /** The session ended: a handshake under way fails with `e`. */
  abort(e: Error): void {
    this.#fail?.(e);
  }

  /**
   * Runs the four steps; resolves once AUTH_OK arrived and was checked, with the PING
   * interval the hub asked for in it (`ping_ms`; undefined when it did not say).
   */
  async run(): Promise<{ pingMs: number | undefined }> {
    const { deviceSigner: signer, senderId, hubPublicKey } = this.#o;
    const helloId = this.#o.nextRequestId();
    const auth = this.#o.auth?.();
    const hello = encodePayload(Opcode.HELLO, {
      device_key: signer.publicKey,
      user_id: this.#o.userId,
      client: this.#o.client,
      ...(auth === undefined ? {} : { auth }),
    });
    const challenge = await this.#exchange(
      this.#request(Opcode.HELLO, helloId, hello),
      Opcode.AUTH_CHALLENGE,
      helloId,
    );
    const ch = decodePayload(Opcode.AUTH_CHALLENGE, challenge.payload);
    if (hubPublicKey && !bytesEqual(ch.hub_key, hubPublicKey))
      throw new TransportError("WRONG_HUB", "the hub presented another key");
    const respId = this.#o.nextRequestId();
    const response = encodePayload(Opcode.AUTH_RESPONSE, { nonce: ch.nonce });
    const ok = await this.#exchange(
      this.#request(Opcode.AUTH_RESPONSE, respId, response),
      Opcode.AUTH_OK,
      respId,
      true,
    );
    const confirmed = decodePayload(Opcode.AUTH_OK, ok.payload);
    if (confirmed.sender_id !== senderId)
      throw new TransportError("WRONG_SENDER_ID", "the hub confirmed another sender_id");
    // The hub authenticated this device as a user (DESIGN §10): it must be the one the
    // device's credential names, or every leaf it signs would be refused.
    if (confirmed.user_id !== this.#o.userId)
      throw new TransportError("WRONG_USER", "the hub authenticated this device as another user");
    this.#fail = undefined;
    return { pingMs: confirmed.ping_ms };
  }

  #request(opcode: number, requestId: number, payload: Uint8Array): Uint8Array {
    const { deviceSigner, senderId } = this.#o;
    return encodeFrame(
      { opcode, requestId, roomId: 0n, senderId, epoch: 0n, payload },
      deviceSigner,
    );
  }

  /**
   * Sends `frame` and resolves with the answer to `requestId`. `last`: the AUTH_OK
   * exchange. Frames the hub sends right behind AUTH_OK (a COMMIT_REQUEST for a member
   * that just became live) can arrive in the same chunk, before the awaiting code runs, so
   * the switch to "authenticated" happens here.
   */
  #exchange(frame: Uint8Array, expect: number, requestId: number, last = false): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      this.#fail = reject;
      this.#pending = (f) => {
        const h = f.header;
        if (h.requestId !== requestId || (h.flags & Flag.RESPONSE) === 0) return;
        if (h.opcode === Opcode.ERROR) {
          const p = decodeErrorPayload(f.payload);
          reject(new TransportError(p.name, p.message));
        } else if (h.opcode !== expect) {
          reject(new TransportError("PROTOCOL", `expected opcode ${expect}, got ${h.opcode}`));
        } else if (this.#o.hubPublicKey && !verifyFrame(f, this.#o.hubPublicKey)) {
          reject(
            new TransportError("BAD_SIGNATURE", "handshake frame not signed by the pinned hub key"),
          );
        } else {
          if (last) {
            this.#authenticated = true;
            this.#pending = undefined;
          }
          resolve(f);
        }
      };
      this.#o.write(frame).catch(reject);
    });
  }
}
