/** What the client tells the application (docs/client.md "API"). */
import type { Opcode, PayloadOf } from "@kalandra/proto";
import type { MessageEnvelope } from "../envelope/index.js";

export type ClientEvent =
  | {
      readonly type: "message";
      readonly roomId: bigint;
      readonly logIndex: bigint;
      readonly epoch: bigint;
      readonly senderId: bigint;
      readonly userId: string;
      readonly plaintext: Uint8Array;
      /** The decoded envelope when the plaintext is one (docs/client.md "Envelope"). */
      readonly envelope: MessageEnvelope | undefined;
      /** True for this device's own message, echoed once the sequencer accepted it. */
      readonly own: boolean;
    }
  | {
      readonly type: "membership";
      readonly roomId: bigint;
      readonly epoch: bigint;
      readonly added: readonly string[];
      readonly removed: readonly string[];
    }
  | {
      readonly type: "epoch";
      readonly roomId: bigint;
      readonly epoch: bigint;
      readonly treeHash: Uint8Array;
    }
  | { readonly type: "joined"; readonly roomId: bigint; readonly epoch: bigint }
  | { readonly type: "removed"; readonly roomId: bigint; readonly epoch: bigint }
  | { readonly type: "redaction"; readonly roomId: bigint; readonly logIndex: bigint }
  /** A sequenced change of the room's roles, join rule or invites (docs/protocol.md). */
  | {
      readonly type: "policy";
      readonly roomId: bigint;
      readonly logIndex: bigint;
      readonly change: PayloadOf<typeof Opcode.ROOM_POLICY>;
    }
  /** A sequenced frame that failed a check and was skipped (its log_index is consumed). */
  | {
      readonly type: "rejected";
      readonly roomId: bigint;
      readonly logIndex: bigint;
      readonly reason: string;
    }
  /**
   * Another member's presence status in a room (relayed, never stored: state/presence.ts);
   * `status` is undefined once it lapsed without renewal.
   */
  | {
      readonly type: "presence";
      readonly roomId: bigint;
      readonly senderId: bigint;
      readonly userId: string;
      readonly status: string | undefined;
    }
  /** Another member started typing, or stopped (said so, or its signal lapsed). */
  | {
      readonly type: "typing";
      readonly roomId: bigint;
      readonly senderId: bigint;
      readonly userId: string;
      readonly typing: boolean;
    }
  | { readonly type: "error"; readonly error: Error };

export type ClientListener = (e: ClientEvent) => void;

export class Emitter {
  readonly #listeners = new Set<ClientListener>();

  on(l: ClientListener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  emit(e: ClientEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // A throwing listener must not break frame processing.
      }
    }
  }
}
