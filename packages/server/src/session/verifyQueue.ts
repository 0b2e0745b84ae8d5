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

export class VerifyQueue<T> {
  private readonly pending: { item: T; ok: boolean | undefined }[] = [];

  /** `release` gets each item with its verdict, in order; false stops (the rest waits). */
  constructor(
    private readonly verify: AsyncVerifier,
    private readonly release: (item: T, ok: boolean) => boolean,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  push(item: T, frame: Frame, publicKey: Uint8Array): void {
    const entry: { item: T; ok: boolean | undefined } = { item, ok: undefined };
    this.pending.push(entry);
    this.verify(frame, publicKey, (ok) => {
      entry.ok = ok;
      this.drain();
    });
  }

  private drain(): void {
    while (this.pending.length > 0 && this.pending[0]?.ok !== undefined) {
      const { item, ok } = this.pending.shift() as { item: T; ok: boolean };
      if (!this.release(item, ok)) return;
    }
  }
}
