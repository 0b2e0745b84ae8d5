/**
 * Files and images in a room (docs/client.md "Attachments", issue 17). Sending: the
 * content is sealed under a fresh key (envelope/attachment.ts), the sealed blob uploaded in
 * chunks (upload.ts), a thumbnail likewise as a second, small blob, and only once the hub
 * holds them complete, an APP_MESSAGE whose sealed envelope carries name, media type, size
 * and keys and whose clear `attachments` list names the blob ids (the hub's read ACL and
 * refcounts). Fetching: the blob by id within the room (download.ts), checked against its
 * hash, opened with its key.
 */
import { toHex } from "@kalandra/proto";
import { openAttachment, sealAttachment } from "../envelope/attachment.js";
import type { AttachmentThumb, EnvelopeContent } from "../envelope/types.js";
import type { ClientContext } from "../state/context.js";
import { ClientError } from "../state/errors.js";
import { fetchBlob } from "./download.js";
import { ProgressReporter, type TransferOptions } from "./transfer.js";
import { uploadBlob } from "./upload.js";

/** File content: bytes, or anything with `arrayBuffer()` (a browser `File` or `Blob`). */
export type AttachmentSource = Uint8Array | { arrayBuffer(): Promise<ArrayBuffer> };

export interface AttachmentMetadata {
  /** Media type, e.g. "image/png" (docs/client.md "Envelope"). */
  mime: string;
  name?: string;
  /** A small preview the application made (e.g. a scaled-down JPEG of an image). */
  thumbnail?: { content: AttachmentSource; mime: string };
}

/** The attachment envelope content: what a recipient needs to fetch and open the file. */
export type AttachmentContent = Extract<EnvelopeContent, { t: "attachment" }>;

/** What `fetchAttachment` needs: the room it was sent in, the blob id, its key and size. */
export interface AttachmentRef {
  roomId: bigint;
  hash: Uint8Array;
  key?: Uint8Array;
  size: number;
}

export interface SentAttachment {
  logIndex: bigint;
  attachment: AttachmentContent;
}

/** Sealed blob = content + the 16-byte Poly1305 tag. */
const TAG_BYTES = 16;

async function bytesOf(src: AttachmentSource): Promise<Uint8Array> {
  if (src instanceof Uint8Array) return src;
  return new Uint8Array(await src.arrayBuffer());
}

/** The blob ids an attachment envelope references (the main blob, then its thumbnail). */
export function referencedBlobs(content: EnvelopeContent): Uint8Array[] {
  if (content.t !== "attachment") return [];
  return content.thumb === undefined ? [content.hash] : [content.hash, content.thumb.hash];
}

export class Attachments {
  constructor(
    private readonly c: Pick<ClientContext, "rooms" | "rng" | "hub">,
    private readonly sendMessage: (roomId: bigint, content: AttachmentContent) => Promise<bigint>,
  ) {}

  #target(roomId: bigint) {
    return { hub: this.c.hub, roomId, epoch: this.c.rooms.get(roomId)?.epoch ?? 0n };
  }

  async send(
    roomId: bigint,
    file: AttachmentSource,
    meta: AttachmentMetadata,
    o: TransferOptions = {},
  ): Promise<SentAttachment> {
    const room = this.c.rooms.get(roomId);
    if (room === undefined) throw new ClientError("unknown_room", `no room ${roomId}`);
    if (room.removed) throw new ClientError("removed", "removed from the room");
    const main = sealAttachment(await bytesOf(file), this.c.rng);
    const thumb =
      meta.thumbnail === undefined
        ? undefined
        : {
            sealed: sealAttachment(await bytesOf(meta.thumbnail.content), this.c.rng),
            mime: meta.thumbnail.mime,
          };
    const total = main.blob.length + (thumb?.sealed.blob.length ?? 0);
    const progress = new ProgressReporter(total, o.onProgress);
    let thumbRef: AttachmentThumb | undefined;
    if (thumb !== undefined) {
      const s = thumb.sealed;
      await uploadBlob(
        this.#target(roomId),
        s.blob,
        s.hash,
        progress.part(0, s.blob.length),
        o.window,
      );
      thumbRef = { hash: s.hash, size: s.size, mime: thumb.mime, key: s.key };
    }
    const base = thumb?.sealed.blob.length ?? 0;
    await uploadBlob(
      this.#target(roomId),
      main.blob,
      main.hash,
      progress.part(base, main.blob.length),
      o.window,
    );
    const attachment: AttachmentContent = {
      t: "attachment",
      hash: main.hash,
      size: main.size,
      mime: meta.mime,
      key: main.key,
      ...(meta.name === undefined ? {} : { name: meta.name }),
      ...(thumbRef === undefined ? {} : { thumb: thumbRef }),
    };
    const logIndex = await this.sendMessage(roomId, attachment);
    return { logIndex, attachment };
  }

  /** Fetches, checks and opens an attachment (or its thumbnail: pass `thumb` with the room id). */
  async fetch(ref: AttachmentRef, o: TransferOptions = {}): Promise<Uint8Array> {
    if (ref.key === undefined)
      throw new ClientError("no_key", `attachment ${toHex(ref.hash).slice(0, 16)}… has no key`);
    const sealedSize = ref.size + TAG_BYTES;
    const blob = await fetchBlob(
      this.#target(ref.roomId),
      ref.hash,
      sealedSize,
      new ProgressReporter(sealedSize, o.onProgress).part(0, sealedSize),
      o.window,
    );
    return openAttachment(blob, { hash: ref.hash, key: ref.key });
  }
}
