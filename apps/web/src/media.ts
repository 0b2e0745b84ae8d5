/**
 * Attachments as the page shows them (issue 17): images inline — the thumbnail as soon as
 * it is fetched, then the picture — and other files fetched on demand into the browser's
 * download. Each blob is fetched once per page (`fetchAttachment` checks it against its
 * hash and opens it) and kept as an object URL.
 */
import type { KalandraClient, TransferProgress } from "@kalandra/client";
import type { AttachmentInfo } from "./chatLog.js";
import { fromHex } from "./settings.js";
import { thumbnailOf } from "./ui/thumbnail.js";

/** Images up to this size are fetched to show inline; larger ones show their thumbnail. */
const INLINE_IMAGE_BYTES = 8 * 1024 * 1024;

type Part = { hash: string; key: string; size: number; mime: string };

export class Media {
  /** Blob id (hex) → object URL of its content, the fetch under way, or null: it failed. */
  readonly #urls = new Map<string, string | Promise<void> | null>();

  constructor(
    private readonly client: () => KalandraClient | undefined,
    private readonly changed: () => void,
    private readonly failed: (e: unknown) => void,
  ) {}

  /** The picture to show now: the full image once fetched, else its thumbnail, else none. */
  image(roomId: bigint, file: AttachmentInfo): string | undefined {
    if (file.thumb !== undefined) this.#fetch(roomId, file.thumb);
    if (file.size <= INLINE_IMAGE_BYTES) this.#fetch(roomId, file);
    for (const part of [file, file.thumb]) {
      const url = part === undefined ? undefined : this.#urls.get(part.hash);
      if (typeof url === "string") return url;
    }
    return undefined;
  }

  /** Sends a file the user picked, with a thumbnail when it is an image. */
  async send(roomId: bigint, file: File, onProgress: (p: TransferProgress) => void): Promise<void> {
    const client = this.client();
    if (client === undefined) return;
    const thumb = await thumbnailOf(file);
    await client.sendAttachment(
      roomId,
      file,
      {
        mime: file.type === "" ? "application/octet-stream" : file.type,
        name: file.name,
        ...(thumb === undefined ? {} : { thumbnail: { content: thumb, mime: thumb.type } }),
      },
      { onProgress },
    );
  }

  /** Fetches a file (with progress) and hands it to the browser to save under its name. */
  async download(
    roomId: bigint,
    file: AttachmentInfo,
    onProgress: (p: TransferProgress) => void,
  ): Promise<void> {
    const client = this.client();
    if (client === undefined) return;
    const bytes = await client.fetchAttachment(refOf(roomId, file), { onProgress });
    const url = objectUrl(bytes, file.mime);
    const a = document.createElement("a");
    a.href = url;
    a.download = file.name ?? "file";
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  /** Fetches a blob once; the page re-renders when it arrives. */
  #fetch(roomId: bigint, part: Part): void {
    const client = this.client();
    if (client === undefined || this.#urls.has(part.hash)) return;
    const loading = (async () => {
      try {
        const bytes = await client.fetchAttachment(refOf(roomId, part));
        this.#urls.set(part.hash, objectUrl(bytes, part.mime));
      } catch (e) {
        this.#urls.set(part.hash, null); // not again on every render
        this.failed(e);
      }
      this.changed();
    })();
    this.#urls.set(part.hash, loading);
  }
}

function refOf(roomId: bigint, part: Part) {
  return { roomId, hash: fromHex(part.hash), key: fromHex(part.key), size: part.size };
}

function objectUrl(bytes: Uint8Array, mime: string): string {
  return URL.createObjectURL(new Blob([bytes.slice().buffer as ArrayBuffer], { type: mime }));
}
