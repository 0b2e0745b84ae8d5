/**
 * Client PINGs answered by the WebSocket front holding the socket (issue 15), so that an
 * idle session costs the hub's primary nothing at all: at 100,000 sessions pinging every
 * 120 s the primary answered ≈ 830 PINGs/s (an IPC hop, a frame parsed, a signature
 * checked on the thread pool, a signed PONG: 36 % of a core), and their garbage kept its
 * 768 MB heap collecting while an active room waited.
 *
 * What the PONG proves is that the hub is there: the client core takes any frame as life
 * (docs/protocol.md "Keep-alive"), so the front answers only while it hears from its
 * primary (`vouchMs`; the primary sends a heartbeat three times as often): a hung primary is
 * still noticed by its clients' timeouts, at most `vouchMs` later. The PONG is the same frame the primary would send,
 * signed by the hub key: a front is the hub's own child process, run by the same user,
 * which could read the key file anyway (the key reaches it over the IPC channel, never a
 * file). The front answers only a PING the primary would have answered without a word,
 * after the same checks (plain flags, the session's sender_id, the `{nonce}` schema, the
 * device's signature), and at most one per `MIN_GAP_MS` per connection; anything else goes
 * to the primary, whose admission (rates, strikes, ERRORs) applies unchanged.
 */
import {
  type DeviceSigner,
  decodePayload,
  encodePayload,
  Frame,
  HEADER_SIZE,
  HUB_ONLY_FLAGS,
  Opcode,
  responseFrame,
  verifyFrame,
} from "@kalandra/proto";

/** A front answers at most one PING per connection in this time; more go to the primary. */
export const MIN_GAP_MS = 1000;
/** The longest silence of the primary after which a front still answers PINGs. */
export const MAX_VOUCH_MS = 15_000;

/**
 * How long a front answers PINGs after last hearing its primary: 15 s, or half the PING
 * interval the hub asks its clients for (`limits.client_ping_interval_ms`) when that is
 * shorter, so that a client whose hub hangs misses a PONG within about one interval more
 * than its timeout (whose negotiated value is longer than the asked interval).
 */
export function vouchMs(clientPingIntervalMs: number | undefined): number {
  const asked = clientPingIntervalMs ?? 0;
  return asked > 0 ? Math.max(100, Math.min(MAX_VOUCH_MS, Math.floor(asked / 2))) : MAX_VOUCH_MS;
}
/** A PING's payload is `{nonce}`: a few bytes; anything longer is for the primary to refuse. */
const MAX_PING_PAYLOAD = 32;

/** The authenticated device of one connection, as the primary reported it (AUTH). */
export interface PingDevice {
  publicKey: Uint8Array;
  senderId: bigint;
  /** When the front last answered one of its PINGs (ms, the front's monotonic clock). */
  answeredAt: number;
}

/** True when `bytes` is (by its header) a PING: the only message a front looks into. */
export function isPing(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER_SIZE && bytes[6] === 0 && bytes[7] === Opcode.PING;
}

/**
 * The hub's PONG for `bytes` when the front may answer it now, else undefined (the
 * message goes to the primary as it is). Records the answer in `device`.
 */
export function frontPong(
  bytes: Uint8Array,
  device: PingDevice,
  hub: DeviceSigner,
  now: number,
): Uint8Array | undefined {
  if (!isPing(bytes) || now - device.answeredAt < MIN_GAP_MS) return undefined;
  let frame: Frame;
  let nonce: number;
  try {
    frame = Frame.fromWire(bytes, { maxPayload: MAX_PING_PAYLOAD });
    ({ nonce } = decodePayload(Opcode.PING, frame.payload));
  } catch {
    return undefined;
  }
  const h = frame.header;
  if ((h.flags & HUB_ONLY_FLAGS) !== 0 || h.senderId !== device.senderId) return undefined;
  if (!verifyFrame(frame, device.publicKey)) return undefined;
  device.answeredAt = now;
  const ids = { requestId: h.requestId, roomId: h.roomId };
  return responseFrame(hub, ids, Opcode.PONG, encodePayload(Opcode.PONG, { nonce }));
}
