/**
 * Where the cores send frames (DESIGN §2: cores push frames to an injected sink, they
 * never open sockets). The runtime that owns the sessions resolves a target to
 * connections.
 */

/**
 * One session, every session of one device, a room's members, or (federation, DESIGN §11)
 * the other hubs holding a replica of the room: a sequenced frame for each of them, with
 * their member devices and those it is fanned out to.
 */
export type Target =
  | { kind: "session"; sessionId: string }
  | { kind: "device"; senderId: bigint }
  | { kind: "members"; roomId: bigint; senderIds: readonly bigint[] }
  | {
      kind: "replicas";
      roomId: bigint;
      logIndex: bigint;
      peers: readonly ReplicaPeer[];
      /** The room's state after the frame, when the frame changed it (failover needs it). */
      roomState?: Uint8Array;
    };

/** A participating hub of a room: its member devices, and those a frame is fanned out to. */
export interface ReplicaPeer {
  readonly domain: string;
  readonly members: readonly bigint[];
  readonly fanout: readonly bigint[];
}

export type Sink = (target: Target, frame: Uint8Array) => void;
