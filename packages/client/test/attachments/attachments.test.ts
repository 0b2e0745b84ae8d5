/**
 * sendAttachment / fetchAttachment against the relay's honest blob store
 * (test/support/relayBlobs.ts): chunked upload with progress, the APP_MESSAGE naming its
 * blobs in the clear, a thumbnail as a second blob, resuming under loss and after the hub
 * lost its upload sessions, and every way a fetch is refused or a hub's bytes rejected.
 */
import { BLOB_CHUNK_SIZE, bytesEqual, Opcode, toHex } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import type { TransferProgress } from "../../src/attachments/transfer.js";
import { ClientError, HubError } from "../../src/client.js";
import type { MessageEnvelope } from "../../src/envelope/types.js";
import { parseFrame, payloadOf } from "../../src/state/wire.js";
import { seededRng } from "../support/env.js";
import { type TestClient, World, waitEpoch, waitFor } from "../support/world.js";

/** 2.5 chunks of seeded bytes: three BLOB_CHUNKs, the last a short one. */
const FILE = seededRng("file").bytes(Math.floor(BLOB_CHUNK_SIZE * 2.5));

async function roomOfTwo(
  seed: string,
  loss = 0,
): Promise<{ w: World; a: TestClient; b: TestClient; room: bigint }> {
  const w = await World.create(seed);
  const a = await w.client("alice", undefined, {}, loss);
  const b = await w.client("bob", undefined, {}, loss);
  const room = await a.client.createRoom();
  await a.client.addMembers(room, ["bob"]);
  await waitEpoch([a, b], room, 1n);
  return { w, a, b, room };
}

function attachmentAt(
  c: TestClient,
  logIndex: bigint,
): Extract<MessageEnvelope, { t: "attachment" }> {
  for (const e of c.events)
    if (e.type === "message" && e.logIndex === logIndex && e.envelope?.t === "attachment")
      return e.envelope;
  throw new Error(`no attachment at ${logIndex}`);
}

function monotonic(seen: TransferProgress[], total: number): void {
  for (let i = 1; i < seen.length; i++)
    expect((seen[i] as TransferProgress).loaded).toBeGreaterThan(
      (seen[i - 1] as TransferProgress).loaded,
    );
  expect(seen.at(-1)).toEqual({ loaded: total, total });
}

describe("attachments", () => {
  it("uploads in chunks, references the blobs in the clear, and a member fetches and opens it", async () => {
    const { w, a, b, room } = await roomOfTwo("attach");
    const thumbnail = new TextEncoder().encode("a tiny preview");
    const up: TransferProgress[] = [];
    const sent = await a.client.sendAttachment(
      room,
      FILE,
      {
        mime: "image/png",
        name: "photo.png",
        thumbnail: { content: thumbnail, mime: "image/jpeg" },
      },
      { onProgress: (p) => up.push(p) },
    );
    // Progress counts sealed bytes (content + 16 per blob), thumbnail first.
    monotonic(up, FILE.length + 16 + thumbnail.length + 16);
    expect(w.relay.blobs.stats.chunks).toBe(4);

    // The hub sees the blob ids, and nothing of the key.
    const frame = parseFrame(w.relay.rooms.get(room)?.log[Number(sent.logIndex)] as Uint8Array);
    expect(frame.header.opcode).toBe(Opcode.APP_MESSAGE);
    const refs = payloadOf(frame).attachments as Uint8Array[];
    expect(refs.map(toHex)).toEqual([
      toHex(sent.attachment.hash),
      toHex(sent.attachment.thumb?.hash as Uint8Array),
    ]);
    const stored = w.relay.blobs.complete.get(toHex(sent.attachment.hash)) as Uint8Array;
    expect(stored.length).toBe(FILE.length + 16);
    expect(Buffer.from(stored).indexOf(Buffer.from(FILE.subarray(0, 64)))).toBe(-1);

    await waitFor(
      () => b.events.some((e) => e.type === "message" && e.logIndex === sent.logIndex),
      "bob sees it",
    );
    const env = attachmentAt(b, sent.logIndex);
    expect({ mime: env.mime, name: env.name, size: env.size }).toEqual({
      mime: "image/png",
      name: "photo.png",
      size: FILE.length,
    });
    const down: TransferProgress[] = [];
    const got = await b.client.fetchAttachment(
      { roomId: room, ...env },
      { onProgress: (p) => down.push(p), window: 2 },
    );
    expect(bytesEqual(got, FILE)).toBe(true);
    monotonic(down, FILE.length + 16);
    const thumb = await b.client.fetchAttachment({
      roomId: room,
      ...(env.thumb as NonNullable<typeof env.thumb>),
    });
    expect(new TextDecoder().decode(thumb)).toBe("a tiny preview");
  });

  it("takes a Blob (a browser File) and survives 30 % loss both ways", async () => {
    const { w, a, b, room } = await roomOfTwo("attach-loss", 0.3);
    const sent = await a.client.sendAttachment(room, new Blob([FILE]), {
      mime: "application/octet-stream",
    });
    expect(
      bytesEqual(await b.client.fetchAttachment({ roomId: room, ...sent.attachment }), FILE),
    ).toBe(true);
    expect(a.conn.dropped + b.conn.dropped).toBeGreaterThan(0);
    expect(w.relay.blobs.stats.chunks).toBe(3);
  }, 60_000);

  it("resumes an upload after the hub lost its upload session (restart) and the connection", async () => {
    const { w, a, b, room } = await roomOfTwo("attach-restart");
    let restarted = false;
    const sent = await a.client.sendAttachment(
      room,
      FILE,
      { mime: "application/pdf", name: "paper.pdf" },
      {
        window: 1,
        onProgress: ({ loaded }) => {
          if (restarted || loaded < BLOB_CHUNK_SIZE) return;
          restarted = true;
          w.relay.blobs.restart();
          a.client.disconnect();
          void a.client.reconnect(w.relay.connect());
        },
      },
    );
    expect(restarted).toBe(true);
    // Begun twice: the second time from offset 0, since the session was gone.
    expect(w.relay.blobs.stats.uploads).toBe(2);
    expect(w.relay.blobs.stats.refused).toBeGreaterThan(0);
    expect(
      bytesEqual(await b.client.fetchAttachment({ roomId: room, ...sent.attachment }), FILE),
    ).toBe(true);
  });

  it("refuses outsiders, erased blobs, a hub's wrong bytes and a wrong size, each typed", async () => {
    const { w, a, room } = await roomOfTwo("attach-refuse");
    const sent = await a.client.sendAttachment(room, FILE, { mime: "text/plain" });
    const ref = { roomId: room, ...sent.attachment };
    const carol = await w.client("carol");
    const outsider = await carol.client.fetchAttachment(ref).catch((e: unknown) => e);
    expect(outsider).toBeInstanceOf(HubError);
    expect((outsider as HubError).hubName).toBe("BLOB_NOT_FOUND");

    const wrongSize = await a.client
      .fetchAttachment({ ...ref, size: ref.size + 1 })
      .catch((e: unknown) => e);
    expect((wrongSize as ClientError).code).toBe("bad_blob");
    const noKey = await a.client
      .fetchAttachment({ roomId: room, hash: ref.hash, size: ref.size })
      .catch((e: unknown) => e);
    expect((noKey as ClientError).code).toBe("no_key");

    // A hub that serves other bytes under the id (here: one flipped bit in the last chunk).
    const stored = w.relay.blobs.complete.get(toHex(ref.hash)) as Uint8Array;
    stored.set([(stored.at(-1) as number) ^ 1], stored.length - 1);
    const tampered = await a.client.fetchAttachment(ref).catch((e: unknown) => e);
    expect(tampered).toBeInstanceOf(ClientError);
    expect((tampered as ClientError).code).toBe("attachment_hash_mismatch");

    w.relay.blobs.erase(ref.hash);
    const erased = await a.client.fetchAttachment(ref).catch((e: unknown) => e);
    expect((erased as HubError).hubName).toBe("BLOB_NOT_FOUND");
  });

  it("sends no message when the upload is refused, and a message naming no blob has none", async () => {
    const { w, a, room } = await roomOfTwo("attach-too-large");
    w.relay.blobs.maxBlobBytes = 1000;
    const head = w.relay.rooms.get(room)?.log.length;
    const refused = await a.client
      .sendAttachment(room, FILE, { mime: "text/plain" })
      .catch((e: unknown) => e);
    expect((refused as HubError).hubName).toBe("BLOB_TOO_LARGE");
    expect(w.relay.rooms.get(room)?.log.length).toBe(head);
    const idx = await a.client.send(room, { t: "text", body: "no files here" });
    const p = payloadOf(parseFrame(w.relay.rooms.get(room)?.log[Number(idx)] as Uint8Array));
    expect(p.attachments).toBeUndefined();
  });
});
