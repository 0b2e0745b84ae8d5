/**
 * A session's frames whose signatures are verified off the calling thread (the Node
 * runtime passes runtime/node/asyncVerify.ts), released in arrival order: a frame still
 * being verified holds back those that arrived after it, so the hub sees a session's
 * frames in the order they were sent.
 */
import type { Frame } from "@kalandra/proto";

/** Calls `done` with the verdict on `frame`'s signature by `publicKey`, later. */
export type AsyncVerifier = (
  frame: Frame,
  publicKey: Uint8Array,
  done: (ok: boolean) => void,
) => void;

interface Entry<T> {
  item?: T;
  /** An action that needs no verdict, run in its turn (`inOrder`). */
  run?: () => void;
  ok: boolean | undefined;
}

export class VerifyQueue<T> {
  private readonly pending: Entry<T>[] = [];

  /** `release` gets each item with its verdict, in order; false stops (the rest waits). */
  constructor(
    private readonly verify: AsyncVerifier,
    private readonly release: (item: T, ok: boolean) => boolean,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  /**
   * Runs `action` now when nothing waits for a verdict, otherwise after the items queued
   * before it (a refusal or a handshake answer must not overtake the frames before it).
   */
  inOrder(action: () => void): void {
    if (this.pending.length === 0) action();
    else this.pending.push({ run: action, ok: true });
  }

  push(item: T, frame: Frame, publicKey: Uint8Array): void {
    const entry: Entry<T> = { item, ok: undefined };
    this.pending.push(entry);
    this.verify(frame, publicKey, (ok) => {
      entry.ok = ok;
      this.drain();
    });
  }

  private drain(): void {
    while (this.pending.length > 0 && this.pending[0]?.ok !== undefined) {
      const { item, run, ok } = this.pending.shift() as Entry<T>;
      if (run !== undefined) run();
      else if (!this.release(item as T, ok as boolean)) return;
    }
  }
}
