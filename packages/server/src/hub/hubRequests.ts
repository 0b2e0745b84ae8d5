/**
 * The requests the hub answers itself, without a room's sequencer: key-package upload and
 * claim (the directory, keypackages/directory.ts; claims rate-limited, claimLimits.ts),
 * the device's Welcome inbox (INVITES_LIST, WELCOME_ACK; inbox/welcomeInbox.ts) and in-band
 * moderation (KICK, BAN, REDACT, handed to moderation when it is enabled, FORBIDDEN
 * otherwise; a repeat gets the first answer, stored, moderationAnswers.ts). Each answers on
 * the requesting session; payloads that do not decode throw ProtocolError, which the hub
 * core turns into an ERROR response.
 */
import {
  type DeviceSigner,
  decodePayload,
  errorFrame,
  type Frame,
  hubFrame,
  Opcode,
  type PayloadOf,
  responseFrame,
} from "@kalandra/proto";
import type { DeviceRegistry } from "../identity/devices.js";
import type { WelcomeInbox } from "../inbox/welcomeInbox.js";
import type { KeyPackageDirectory } from "../keypackages/directory.js";
import { roomKey } from "../storage/keys.js";
import type { BanPolicy } from "../vocabulary/bans.js";
import { type Outcome, refuse } from "../vocabulary/outcome.js";
import type { Sink } from "../vocabulary/target.js";
import type { ClaimRateLimiter } from "./claimLimits.js";
import type { ModerationAnswers } from "./moderationAnswers.js";

/** A moderation request a device sent in band (KICK, BAN, REDACT), decoded. */
export type ModerationRequest = {
  userId: string;
  roomId: bigint;
  request:
    | { opcode: typeof Opcode.KICK; payload: PayloadOf<typeof Opcode.KICK> }
    | { opcode: typeof Opcode.BAN; payload: PayloadOf<typeof Opcode.BAN> }
    | { opcode: typeof Opcode.REDACT; payload: PayloadOf<typeof Opcode.REDACT> };
};

/** Who answers in-band moderation (moderation/inBand.ts); without it they are FORBIDDEN. */
export interface InBandModeration {
  handle(req: ModerationRequest): Promise<Outcome>;
}

/** Who sent the request: the session's authenticated device and user. */
export interface Requester {
  sessionId: string;
  deviceKey: Uint8Array;
  senderId: bigint;
  userId: string;
}

/** What the answers need of the hub core. */
export interface HubRequestContext {
  sink: Sink;
  signer: DeviceSigner;
  keyPackages: KeyPackageDirectory;
  devices: DeviceRegistry;
  claimLimits: ClaimRateLimiter;
  inbox: WelcomeInbox;
  bans: BanPolicy | undefined;
  moderation: InBandModeration | undefined;
  /** First answers of in-band moderation requests, for their repeats. */
  moderationAnswers: ModerationAnswers;
  nowSeconds: bigint;
}

/** The opcodes answered here. */
export const HUB_REQUEST_OPCODES: ReadonlySet<number> = new Set([
  Opcode.KP_UPLOAD,
  Opcode.KP_CLAIM,
  Opcode.INVITES_LIST,
  Opcode.WELCOME_ACK,
  Opcode.KICK,
  Opcode.BAN,
  Opcode.REDACT,
  Opcode.DEVICE_LIST,
  Opcode.DEVICE_REVOKE,
]);

/** Answers one of `HUB_REQUEST_OPCODES`. */
export async function answerHubRequest(
  ctx: HubRequestContext,
  frame: Frame,
  from: Requester,
): Promise<void> {
  switch (frame.header.opcode) {
    case Opcode.KP_UPLOAD:
      return kpUpload(ctx, frame, from);
    case Opcode.KP_CLAIM:
      return kpClaim(ctx, frame, from);
    case Opcode.DEVICE_LIST:
    case Opcode.DEVICE_REVOKE:
      return ownDevices(ctx, frame, from);
    case Opcode.INVITES_LIST:
      return invitesList(ctx, frame, from);
    case Opcode.WELCOME_ACK:
      return welcomeAck(ctx, frame, from);
    default:
      return moderate(ctx, frame, from);
  }
}

async function kpUpload(ctx: HubRequestContext, frame: Frame, from: Requester): Promise<void> {
  const reply = { kind: "session", sessionId: from.sessionId } as const;
  const p = decodePayload(Opcode.KP_UPLOAD, frame.payload);
  const r = await ctx.keyPackages.upload(from, p.key_packages, p.last_resort, ctx.nowSeconds);
  if (!r.ok) return ctx.sink(reply, errorFrame(frame.header, r.refusal));
  ctx.sink(reply, responseFrame(ctx.signer, frame.header, Opcode.ACK, {}));
}

async function kpClaim(ctx: HubRequestContext, frame: Frame, from: Requester): Promise<void> {
  const reply = { kind: "session", sessionId: from.sessionId } as const;
  const p = decodePayload(Opcode.KP_CLAIM, frame.payload);
  if (ctx.bans?.isBanned(p.user_id) === true) {
    // Nobody can add a hub-wide banned user: its key packages are not handed out.
    const r = refuse("BANNED", `${p.user_id} is banned from this hub`);
    return ctx.sink(reply, errorFrame(frame.header, r));
  }
  const limited = ctx.claimLimits.admit(from.userId, p.user_id);
  if (limited !== undefined) return ctx.sink(reply, errorFrame(frame.header, limited));
  const r = await ctx.keyPackages.claim(p.user_id, ctx.nowSeconds);
  if (!r.ok) return ctx.sink(reply, errorFrame(frame.header, r.refusal));
  ctx.sink(
    reply,
    responseFrame(ctx.signer, frame.header, Opcode.KP_CLAIMED, {
      claims: r.claims.map((c) => ({ sender_id: c.senderId, key_package: c.keyPackage })),
    }),
  );
  for (const device of r.drained) {
    const remaining = ctx.keyPackages.remaining(device, ctx.nowSeconds);
    ctx.sink(
      { kind: "device", senderId: device },
      hubFrame(ctx.signer, Opcode.KP_STATUS, 0n, 0n, { remaining }),
    );
  }
}

/** DEVICE_LIST and DEVICE_REVOKE: a user's own devices (identity/devices.ts). */
async function ownDevices(ctx: HubRequestContext, frame: Frame, from: Requester): Promise<void> {
  const reply = { kind: "session", sessionId: from.sessionId } as const;
  const h = frame.header;
  if (h.opcode === Opcode.DEVICE_LIST) {
    decodePayload(Opcode.DEVICE_LIST, frame.payload);
    const devices = ctx.devices.devicesOf(from.userId).map((d) => ({
      sender_id: d.senderId,
      device_key: d.deviceKey,
      bound_at: d.boundAt,
      revoked: d.revokedAt !== undefined,
    }));
    return ctx.sink(reply, responseFrame(ctx.signer, h, Opcode.DEVICE_LISTED, { devices }));
  }
  const { sender_id } = decodePayload(Opcode.DEVICE_REVOKE, frame.payload);
  // The answer goes out before the revoked device's sessions close (this one among them).
  const r = await ctx.devices.revoke(sender_id, `user:${from.userId}`, {
    asUser: from.userId,
    answered: () => ctx.sink(reply, responseFrame(ctx.signer, h, Opcode.ACK, {})),
  });
  if (!r.ok) ctx.sink(reply, errorFrame(h, r.refusal));
}

/** "Rooms I was invited to": the Welcomes waiting for this device. */
async function invitesList(ctx: HubRequestContext, frame: Frame, from: Requester): Promise<void> {
  decodePayload(Opcode.INVITES_LIST, frame.payload);
  const waiting = await ctx.inbox.pending(from.senderId);
  ctx.sink(
    { kind: "session", sessionId: from.sessionId },
    responseFrame(ctx.signer, frame.header, Opcode.INVITES, {
      invites: waiting.map((w) => ({
        room_id: roomKey(w.roomId),
        epoch: w.epoch,
        log_index: w.logIndex,
        expires_at: w.expiresAt,
      })),
    }),
  );
}

/** The device processed the Welcome of (header room_id, log_index): never deliver it again. */
async function welcomeAck(ctx: HubRequestContext, frame: Frame, from: Requester): Promise<void> {
  const p = decodePayload(Opcode.WELCOME_ACK, frame.payload);
  // Acknowledging twice, or a Welcome already expired, is not an error: the outcome is the same.
  await ctx.inbox.acknowledge(from.senderId, frame.header.roomId, p.log_index);
  ctx.sink(
    { kind: "session", sessionId: from.sessionId },
    responseFrame(ctx.signer, frame.header, Opcode.ACK, {}),
  );
}

async function moderate(ctx: HubRequestContext, frame: Frame, from: Requester): Promise<void> {
  const reply = { kind: "session", sessionId: from.sessionId } as const;
  const h = frame.header;
  let request: ModerationRequest["request"];
  if (h.opcode === Opcode.KICK) {
    request = { opcode: Opcode.KICK, payload: decodePayload(Opcode.KICK, frame.payload) };
  } else if (h.opcode === Opcode.BAN) {
    request = { opcode: Opcode.BAN, payload: decodePayload(Opcode.BAN, frame.payload) };
  } else {
    request = { opcode: Opcode.REDACT, payload: decodePayload(Opcode.REDACT, frame.payload) };
  }
  if (ctx.moderation === undefined) {
    const r = refuse("FORBIDDEN", "moderation is not enabled on this hub");
    return ctx.sink(reply, errorFrame(h, r));
  }
  const moderation = ctx.moderation;
  // A repeat of the request (the client's retry, after a restart too) gets the first answer,
  // stored before it is sent; one that could not be stored is not sent (moderationAnswers.ts).
  const answer = await ctx.moderationAnswers.once(h.senderId, h.requestId, async () => {
    const r = await moderation.handle({ userId: from.userId, roomId: h.roomId, request });
    if (!r.ok) return { bytes: errorFrame(h, r.refusal), accepted: false };
    const stamp = r.logIndex === undefined ? undefined : { logIndex: r.logIndex, hlcTimestamp: 0n };
    return { bytes: responseFrame(ctx.signer, h, Opcode.ACK, {}, stamp), accepted: true };
  });
  if (answer.kind === "answer") return ctx.sink(reply, answer.bytes);
  ctx.sink(reply, errorFrame(h, refuse("INTERNAL", "storage failed")));
}
