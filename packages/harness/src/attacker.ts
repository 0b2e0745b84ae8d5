/**
 * An attacker that speaks the wire protocol itself (issue 12): a device with its own key
 * that sends any HELLO claim and any frame, signed by that key, over the simulated network
 * to the real hub `Session`, and the forged MLS objects it sends (key packages whose
 * credential names someone else, or signed by a key no session holds). Attackers that only
 * need the client's own behaviour under a false name run the real client instead
 * (`World.addAttacker`).
 */
import { type ClientStore, getKalandraCiphersuiteImpl } from "@kalandra/client";
import {
  createDeviceSigner,
  type DeviceSigner,
  decodeErrorPayload,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  Flag,
  Frame,
  Opcode,
  type PayloadOf,
  stateCborDecode,
  type TimerHandle,
} from "@kalandra/proto";
import {
  type ClientState,
  createCommit,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeGroupState,
  defaultCapabilities,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  type KeyPackage,
} from "ts-mls";
import { defaultClientConfig } from "ts-mls/clientConfig.js";
import { HUB } from "./hubNode.js";
import type { SeededRng } from "./rng.js";
import type { World } from "./world.js";

/** What the hub answered: a response frame, or the name of its ERROR. */
export type Answer = { ok: true; frame: Frame } | { ok: false; error: string };

/** Resend an unanswered request this often, this many times (the network may lose it). */
const RETRY_MS = 700;
const ATTEMPTS = 20;
/** Handshakes tried before giving up, and the refusals that a new one may get past. */
const HANDSHAKES = 5;
const RETRY_HANDSHAKE = new Set(["UNAUTHENTICATED", "NO_ANSWER"]);

export class RawDevice {
  readonly senderId: bigint;
  readonly #signer: DeviceSigner;
  readonly #waiting = new Map<number, (a: Answer) => void>();
  #nextRequestId = 1;

  /**
   * A device of `owner` (bound in the world's identity provider) whose key comes from
   * `seed` (the world's rng, or a device the attacker took over).
   */
  constructor(
    private readonly w: World,
    readonly name: string,
    owner: string | undefined,
    seed: Uint8Array,
  ) {
    this.#signer = createDeviceSigner(seed);
    this.senderId = deriveSenderId(this.#signer.publicKey);
    if (owner !== undefined) w.identity.bind(this.#signer.publicKey, owner);
    w.network.attach(name, (_from, bytes) => this.#fromHub(bytes));
  }

  get publicKey(): Uint8Array {
    return this.#signer.publicKey;
  }

  /**
   * A new session: HELLO claiming `userId`, the challenge answered. Under duplication and
   * loss a HELLO sent again is challenged again, and the nonce answered may be the stale
   * one (UNAUTHENTICATED, the session closed): then it starts over on a new connection.
   */
  async authenticate(userId: string): Promise<Answer> {
    let last: Answer = { ok: false, error: "NO_ANSWER" };
    for (let attempt = 0; attempt < HANDSHAKES; attempt++) {
      last = await this.#handshake(userId);
      if (last.ok || !RETRY_HANDSHAKE.has(last.error)) return last;
    }
    return last;
  }

  async #handshake(userId: string): Promise<Answer> {
    this.w.hub.openConnection(this.name);
    const challenge = await this.request(Opcode.HELLO, 0n, 0n, {
      device_key: this.#signer.publicKey,
      user_id: userId,
      client: "attacker/0",
    });
    if (!challenge.ok) return challenge;
    const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, challenge.frame.payload);
    return this.request(Opcode.AUTH_RESPONSE, 0n, 0n, { nonce });
  }

  /** Sends one request (again every RETRY_MS until answered); resolves with the answer. */
  request<Op extends Opcode>(
    opcode: Op,
    roomId: bigint,
    epoch: bigint,
    payload: PayloadOf<Op>,
  ): Promise<Answer> {
    const requestId = this.#nextRequestId++;
    const frame = encodeFrame(
      {
        opcode,
        requestId,
        roomId,
        senderId: this.senderId,
        epoch,
        payload: encodePayload(opcode, payload),
      },
      this.#signer,
    );
    const timers = this.w.scheduler.timersFor(this.name);
    return new Promise((resolve) => {
      let attempts = 0;
      let timer: TimerHandle | undefined;
      const send = () => {
        if (attempts++ >= ATTEMPTS) {
          this.#waiting.delete(requestId);
          resolve({ ok: false, error: "NO_ANSWER" });
          return;
        }
        this.w.network.send(this.name, HUB, frame);
        timer = timers.set(RETRY_MS, send);
      };
      this.#waiting.set(requestId, (a) => {
        if (timer !== undefined) timers.clear(timer);
        resolve(a);
      });
      send();
    });
  }

  #fromHub(bytes: Uint8Array): void {
    let f: Frame;
    try {
      f = Frame.fromWire(bytes);
    } catch {
      return;
    }
    const h = f.header;
    if ((h.flags & Flag.RESPONSE) === 0) return;
    const done = this.#waiting.get(h.requestId);
    if (done === undefined) return;
    this.#waiting.delete(h.requestId);
    if ((h.flags & Flag.ERROR) !== 0) {
      done({ ok: false, error: decodeErrorPayload(f.payload).name });
    } else done({ ok: true, frame: f });
  }
}

/**
 * An MLS KeyPackage whose BasicCredential names `userId`, for the key of `seed`: the
 * attacker decides both, whatever it authenticated as.
 */
export async function forgeKeyPackage(
  rng: SeededRng,
  userId: string,
  seed: Uint8Array,
  nowSeconds: bigint,
): Promise<KeyPackage> {
  const kp = await generateKeyPackageWithKey(
    { credentialType: "basic", identity: new TextEncoder().encode(userId) },
    defaultCapabilities(),
    { notBefore: nowSeconds - 3600n, notAfter: nowSeconds + 86_400n },
    [],
    { signKey: seed, publicKey: createDeviceSigner(seed).publicKey },
    getKalandraCiphersuiteImpl(rng),
  );
  return kp.publicPackage;
}

/** A key package as KP_UPLOAD carries it (an MLSMessage). */
export function keyPackageMessage(keyPackage: KeyPackage): Uint8Array {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage });
}

/**
 * What a member's device keeps on its own disk (the client's store, formats of
 * packages/client state/persistence.ts and state/room.ts): its key seed and its MLS state
 * of a room. A malicious member reads them to act outside its client.
 */
export async function ownDeviceState(
  store: ClientStore,
  roomId: bigint,
): Promise<{ seed: Uint8Array; state: ClientState } | undefined> {
  const device = await store.get("device");
  const mls = await store.get(`room/${roomId.toString(16).padStart(32, "0")}/mls`);
  if (device === undefined || mls === undefined) return undefined;
  const { seed } = stateCborDecode(device) as { seed: Uint8Array };
  const decoded = decodeGroupState(mls, 0);
  if (decoded === undefined) return undefined;
  return {
    seed: new Uint8Array(seed),
    state: { ...decoded[0], clientConfig: defaultClientConfig },
  };
}

/** A commit by the member whose `state` this is, adding `keyPackage` (COMMIT's payload). */
export async function forgeAddCommit(
  rng: SeededRng,
  state: ClientState,
  keyPackage: KeyPackage,
): Promise<{ epoch: bigint; payload: PayloadOf<typeof Opcode.COMMIT> }> {
  const cs = getKalandraCiphersuiteImpl(rng);
  const res = await createCommit(
    { state, cipherSuite: cs },
    {
      wireAsPublicMessage: true,
      ratchetTreeExtension: true,
      extraProposals: [{ proposalType: "add", add: { keyPackage } }],
    },
  );
  const groupInfo = await createGroupInfoWithExternalPubAndRatchetTree(res.newState, [], cs);
  const payload: PayloadOf<typeof Opcode.COMMIT> = {
    commit: encodeMlsMessage(res.commit),
    group_info: encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo }),
  };
  if (res.welcome !== undefined) {
    payload.welcome = encodeMlsMessage({
      version: "mls10",
      wireformat: "mls_welcome",
      welcome: res.welcome,
    });
    payload.welcome_recipients = [deriveSenderId(keyPackage.leafNode.signaturePublicKey)];
  }
  return { epoch: state.groupContext.epoch, payload };
}
