/**
 * Where the cores send frames (DESIGN §2: cores push frames to an injected sink, they
 * never open sockets). The runtime that owns the sessions resolves a target to
 * connections.
 */

/** One session, every session of one device, or a room's members. */
export type Target =
  | { kind: "session"; sessionId: string }
  | { kind: "device"; senderId: bigint }
  | { kind: "members"; roomId: bigint; senderIds: readonly bigint[] };

export type Sink = (target: Target, frame: Uint8Array) => void;
