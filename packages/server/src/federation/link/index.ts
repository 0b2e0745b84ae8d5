/**
 * The hub link core (DESIGN §11): the mutual challenge against the peer policy
 * (../peerPolicy.ts) in handshake.ts, one link end with per-peer rate limiting
 * (linkEndpoint.ts), redial delays (backoff.ts). Sans I/O: kalandrad
 * (runtime/node/federation/) and the simulation move the bytes.
 */
export { type BackoffOptions, backoffDelay } from "./backoff.js";
export {
  AcceptorHandshake,
  DialerHandshake,
  LINK_HANDSHAKE_OPCODES,
  type LinkSelf,
  type LinkStep,
} from "./handshake.js";
export { LinkEndpoint, type LinkEndpointDeps, type LinkEvent } from "./linkEndpoint.js";
