/**
 * The hub, composed once (DESIGN §2, §9): the sessions a runtime opened, the devices they
 * authenticated as, the routing of the core's `Target`s to those sessions, and the
 * per-device rate limit shared by a device's sessions. The core behind it (HubCore, or the
 * echo stand-in of the transport tests) decides about frames; room and member limits are
 * enforced there, where the rooms and their trees are (hub/hubCore.ts, the sequencer).
 *
 * Sans-IO: it is given connections (anything that takes a frame) and a clock. The Node
 * transport (runtime/node/transport.ts) and the harness's simulated network
 * (harness/src/hubNode.ts) are its two runtimes, so the simulation runs the routing and the
 * limits that ship.
 *
 * @example
 * const host = await HubHost.open({ clock, limits }, (sink) => HubCore.open({ ...deps, sink }));
 * host.connect("s1", { deliver: (frame) => session.deliver(frame) });
 * // the session authenticates, then hands each verified frame to host.handleFrame("s1", frame)
 */
import { type Clock, deriveSenderId, type Frame } from "@kalandra/proto";
import type { AuthRequest, AuthVerdict } from "../identity/authenticator.js";
import { userIdProblem } from "../identity/userId.js";
import type { Sink, Target } from "../vocabulary/target.js";
import { type ConnectionCapLimits, ConnectionCaps, NO_CAPS } from "./connectionCaps.js";
import { TokenBucket } from "./tokenBucket.js";

/** One session's outbound side: the session decides stream or datagram. */
export interface Connection {
  deliver(frame: Uint8Array): void;
  /** Ends the session (its device was revoked). */
  close?(reason: string): void;
}

/** What the core may ask of the host besides routing its frames. */
export interface HostControl {
  /** Closes every session of a device (revocation, DESIGN §10). */
  closeDevice(senderId: bigint, reason: string): void;
}

/** What the host needs of the core that decides about frames (HubCore implements it). */
export interface FrameCore {
  /**
   * Who a device speaks for (HubCore: identity/authentication.ts). A core without it (the
   * echo stand-in) takes HELLO's claim, checked like any user id.
   */
  authenticate?(req: AuthRequest): Promise<AuthVerdict>;
  attachSession(sessionId: string, devicePublicKey: Uint8Array, userId: string): void;
  detachSession(sessionId: string): void;
  /** A frame the session parsed and verified (sender_id and signature are the session's). */
  handleVerified(sessionId: string, frame: Frame): Promise<unknown> | undefined;
  /**
   * Sees each target before it is routed: true when the core took the frame itself
   * (federation sends it to a peer hub), so no local session gets it.
   */
  intercept?(target: Target, frame: Uint8Array): boolean;
  close?(): Promise<void>;
}

/** The per-device rate limit (`limits.device_rate`, `limits.device_burst`). */
export interface DeviceLimits {
  deviceRatePerSec: number;
  deviceBurst: number;
}

/** What the host reports to its runtime (metrics in kalandrad, the trace in the harness). */
export interface HostObserver {
  /** A verified frame on its way to the core. */
  received?(sessionId: string, frame: Frame): void;
  /** A frame the core emitted, before it is routed. */
  emitted?(target: Target, frame: Uint8Array): void;
}

/** The host's limits: per device rates, and the per-address / per-user session caps. */
export type HostLimits = DeviceLimits & Partial<ConnectionCapLimits>;

export interface HubHostOptions {
  clock: Clock;
  limits: HostLimits;
  observer?: HostObserver;
}

interface Device {
  sessions: Set<string>;
  bucket: TokenBucket;
}

export class HubHost<C extends FrameCore = FrameCore> {
  /** Open sessions (authenticated or not) and where their frames go. */
  private readonly connections = new Map<string, Connection>();
  /** sender_id → its authenticated sessions and its rate limit. */
  private readonly devices = new Map<bigint, Device>();
  /** sessionId → the device it authenticated as. */
  private readonly deviceOf = new Map<string, bigint>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Sessions per source address and per user (connectionCaps.ts). */
  private readonly caps: ConnectionCaps;
  private limits: DeviceLimits;
  core!: C;

  private constructor(private readonly o: HubHostOptions) {
    this.limits = o.limits;
    this.caps = new ConnectionCaps(capLimits(o.limits));
  }

  /** Builds the host and its core; the core's sink is the host's router. */
  static async open<C extends FrameCore>(
    o: HubHostOptions,
    makeCore: (sink: Sink, control: HostControl) => C | Promise<C>,
  ): Promise<HubHost<C>> {
    const host = new HubHost<C>(o);
    host.core = await makeCore((target, frame) => host.route(target, frame), {
      closeDevice: (senderId, reason) => host.closeDevice(senderId, reason),
    });
    return host;
  }

  /** Who a device speaks for: the core decides (see FrameCore.authenticate). */
  authenticate(req: AuthRequest): Promise<AuthVerdict> {
    if (this.core.authenticate !== undefined) return this.core.authenticate(req);
    const problem = userIdProblem(req.claimedUserId);
    return Promise.resolve(
      problem === undefined
        ? { ok: true, userId: req.claimedUserId }
        : { ok: false, code: "INVALID_USER_ID", message: problem },
    );
  }

  /** Closes every session of a device. */
  closeDevice(senderId: bigint, reason: string): void {
    for (const s of this.sessionsOf(senderId)) this.connections.get(s)?.close?.(reason);
  }

  /** Open sessions. */
  get size(): number {
    return this.connections.size;
  }

  /**
   * A runtime opened a session (from source address `peer`, counted against
   * `max_connections_per_ip`); frames for it go to `conn` from now on.
   */
  connect(sessionId: string, conn: Connection, peer?: string): void {
    this.connections.set(sessionId, conn);
    if (peer !== undefined) this.caps.addPeer(sessionId, peer);
  }

  /** Why one more session from `peer` is refused (`max_connections_per_ip`), or undefined. */
  refusePeer(peer: string): string | undefined {
    return this.caps.refusePeer(peer);
  }

  /**
   * Why `sessionId` may not authenticate as `userId` (`max_sessions_per_user`), or
   * undefined, and then the session counts for the user from this step on (until it closes
   * or attaches): asked before a new device is bound and again right before AUTH_OK, so
   * sessions authenticating at once cannot all pass the cap while none is attached yet.
   */
  refuseUser(sessionId: string, userId: string): string | undefined {
    const why = this.caps.refuseUser(sessionId, userId);
    if (why === undefined) this.caps.addUser(sessionId, userId);
    return why;
  }

  /** The session is gone (closed, crashed, replaced); nothing is routed to it any more. */
  disconnect(sessionId: string): void {
    this.detachSession(sessionId);
    this.connections.delete(sessionId);
    this.caps.remove(sessionId);
  }

  /** The session authenticated as this device of this user. */
  attachSession(sessionId: string, devicePublicKey: Uint8Array, userId: string): void {
    this.core.attachSession(sessionId, devicePublicKey, userId);
    const senderId = deriveSenderId(devicePublicKey);
    this.releaseDevice(sessionId);
    let d = this.devices.get(senderId);
    if (d === undefined) {
      d = {
        sessions: new Set(),
        bucket: new TokenBucket(
          this.limits.deviceRatePerSec,
          this.limits.deviceBurst,
          this.o.clock,
        ),
      };
      this.devices.set(senderId, d);
    }
    d.sessions.add(sessionId);
    this.deviceOf.set(sessionId, senderId);
    this.caps.addUser(sessionId, userId);
  }

  detachSession(sessionId: string): void {
    if (!this.deviceOf.has(sessionId)) return;
    this.releaseDevice(sessionId);
    this.caps.removeUser(sessionId);
    this.core.detachSession(sessionId);
  }

  /** The rate limit shared by every session of a device. */
  deviceBucket(senderId: bigint): TokenBucket {
    const d = this.devices.get(senderId);
    // A device without a session (a frame verified after its session closed) gets a
    // bucket of its own that nobody keeps.
    return (
      d?.bucket ??
      new TokenBucket(this.limits.deviceRatePerSec, this.limits.deviceBurst, this.o.clock)
    );
  }

  /** A frame the session parsed and verified; resolves once the core answered it. */
  async handleFrame(sessionId: string, frame: Frame): Promise<void> {
    this.o.observer?.received?.(sessionId, frame);
    const p = this.core.handleVerified(sessionId, frame);
    if (p === undefined) return;
    this.inFlight.add(p);
    try {
      await p;
    } finally {
      this.inFlight.delete(p);
    }
  }

  /** The core's sink: a target resolved to the sessions it names. */
  route(target: Target, frame: Uint8Array): void {
    this.o.observer?.emitted?.(target, frame);
    if (this.core.intercept?.(target, frame) === true) return;
    switch (target.kind) {
      case "session":
        this.connections.get(target.sessionId)?.deliver(frame);
        return;
      case "device":
        this.toDevice(target.senderId, frame);
        return;
      case "members":
        for (const id of target.senderIds) this.toDevice(id, frame);
        return;
      case "replicas": // other hubs' (federation); nothing for local sessions
        return;
    }
  }

  /** Sessions of a device (tests, moderation views). */
  sessionsOf(senderId: bigint): readonly string[] {
    return [...(this.devices.get(senderId)?.sessions ?? [])];
  }

  /** Applies changed device limits (SIGHUP) to every device's bucket, and the session caps. */
  reconfigure(limits: HostLimits): void {
    this.limits = limits;
    this.caps.reconfigure(capLimits(limits));
    for (const d of this.devices.values())
      d.bucket.configure(limits.deviceRatePerSec, limits.deviceBurst);
  }

  /** Resolves once the frames the core is working on were answered. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops the core (its shards finish what was delivered). */
  async close(): Promise<void> {
    await this.core.close?.();
  }

  private toDevice(senderId: bigint, frame: Uint8Array): void {
    const d = this.devices.get(senderId);
    if (d === undefined) return;
    for (const s of d.sessions) this.connections.get(s)?.deliver(frame);
  }

  private releaseDevice(sessionId: string): void {
    const senderId = this.deviceOf.get(sessionId);
    if (senderId === undefined) return;
    this.deviceOf.delete(sessionId);
    const d = this.devices.get(senderId);
    d?.sessions.delete(sessionId);
    if (d?.sessions.size === 0) this.devices.delete(senderId);
  }
}

function capLimits(l: HostLimits): ConnectionCapLimits {
  return {
    maxConnectionsPerIp: l.maxConnectionsPerIp ?? NO_CAPS.maxConnectionsPerIp,
    maxSessionsPerUser: l.maxSessionsPerUser ?? NO_CAPS.maxSessionsPerUser,
  };
}
