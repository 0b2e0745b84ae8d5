/**
 * Frames queued for one session within one microtask turn leave as one stream write.
 * Every write costs the same in the WebTransport library whatever its size (a
 * WritableStream step, a capsule header and two HTTP/2 writes), and a fan-out burst (the
 * frames of one durable batch, a member's frame and the ACK of its own) often holds
 * several frames for the same session. Frames are self-delimiting on the stream, so the
 * peer reads the same bytes in the same order (docs/performance.md, "Issue 11").
 */
export class FrameCoalescer {
  private frames: Uint8Array[] = [];
  private bytes = 0;

  /** `write` takes one chunk: a single frame as it is, or several copied together. */
  constructor(private readonly write: (chunk: Uint8Array) => void) {}

  /** Frames waiting for the end of this microtask turn. */
  get queued(): number {
    return this.frames.length;
  }

  push(frame: Uint8Array): void {
    this.frames.push(frame);
    this.bytes += frame.length;
    if (this.frames.length === 1) queueMicrotask(() => this.flush());
  }

  /** Writes what is queued now (at the end of the turn, or before the session closes). */
  flush(): void {
    const frames = this.frames;
    if (frames.length === 0) return;
    const total = this.bytes;
    this.frames = [];
    this.bytes = 0;
    if (frames.length === 1) {
      this.write(frames[0] as Uint8Array);
      return;
    }
    const chunk = new Uint8Array(total);
    let at = 0;
    for (const f of frames) {
      chunk.set(f, at);
      at += f.length;
    }
    this.write(chunk);
  }
}
