/**
 * The app's rooms: each room's conversation (`ChatLog`), fed by the client's events and
 * kept in the device's IndexedDB under `app/chat/<room id>` (the client core uses other key
 * prefixes), so a reloaded page shows the history it had.
 */
import type { ClientEvent, ClientStore, MessageEnvelope } from "@kalandra/client";
import { toHex } from "@kalandra/proto";
import { ChatLog, type ChatLogData, type Content } from "./chatLog.js";

const PREFIX = "app/chat/";

/** What a message's envelope means to the conversation. */
export function contentOf(envelope: MessageEnvelope | undefined): Content {
  if (envelope === undefined) return { t: "other", what: "a message in another format" };
  switch (envelope.t) {
    case "text":
      return { t: "text", body: envelope.body };
    case "reply":
      return { t: "reply", target: envelope.target, body: envelope.body };
    case "edit":
      return { t: "edit", target: envelope.target, body: envelope.body };
    case "reaction":
      return { t: "reaction", target: envelope.target, emoji: envelope.emoji };
    case "attachment": {
      // A blob without its key is not one this app can open.
      if (envelope.key === undefined) return { t: "other", what: "an unencrypted attachment" };
      const { hash, key, size, mime, name, thumb } = envelope;
      return {
        t: "attachment",
        file: {
          hash: toHex(hash),
          key: toHex(key),
          size,
          mime,
          ...(name === undefined ? {} : { name }),
          ...(thumb === undefined
            ? {}
            : {
                thumb: {
                  hash: toHex(thumb.hash),
                  key: toHex(thumb.key),
                  size: thumb.size,
                  mime: thumb.mime,
                },
              }),
        },
      };
    }
  }
}

export class Rooms {
  readonly #logs = new Map<bigint, ChatLog>();
  #saving: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: ClientStore,
    private readonly me: string,
  ) {}

  /** Loads every saved conversation of this device. */
  static async load(store: ClientStore, me: string): Promise<Rooms> {
    const r = new Rooms(store, me);
    const td = new TextDecoder();
    for (const key of await store.keys(PREFIX)) {
      const bytes = await store.get(key);
      if (bytes === undefined) continue;
      try {
        const data = JSON.parse(td.decode(bytes)) as ChatLogData;
        r.#logs.set(BigInt(key.slice(PREFIX.length)), new ChatLog(data));
      } catch {
        // an unreadable history is dropped; the room itself lives in the client core
      }
    }
    return r;
  }

  log(roomId: bigint): ChatLog {
    let l = this.#logs.get(roomId);
    if (l === undefined) {
      l = new ChatLog();
      this.#logs.set(roomId, l);
    }
    return l;
  }

  /** Applies a client event; returns the room it changed (undefined: none). */
  apply(e: ClientEvent): bigint | undefined {
    switch (e.type) {
      case "message": {
        const sentAt = e.envelope === undefined ? Date.now() : Number(e.envelope.sent_at);
        this.log(e.roomId).applyMessage(e.logIndex, e.userId, sentAt, contentOf(e.envelope));
        break;
      }
      case "redaction":
        this.log(e.roomId).applyRedaction(e.logIndex);
        break;
      case "membership": {
        const log = this.log(e.roomId);
        // The commit that added this user lists everyone already there: they did not just join.
        if (!e.added.includes(this.me))
          for (const u of new Set(e.added))
            log.notice(`add/${e.epoch}/${u}`, `${u} joined the room`);
        for (const u of new Set(e.removed)) log.notice(`rm/${e.epoch}/${u}`, `${u} left the room`);
        break;
      }
      case "joined":
        this.log(e.roomId).notice(`joined/${e.epoch}`, "You joined the room");
        break;
      case "removed":
        this.log(e.roomId).notice(`removed/${e.epoch}`, "You are no longer a member of this room");
        break;
      default:
        return undefined;
    }
    this.save(e.roomId);
    return e.roomId;
  }

  /** Writes the room's conversation (writes are queued, in order). */
  save(roomId: bigint): void {
    const bytes = new TextEncoder().encode(JSON.stringify(this.log(roomId).toJSON()));
    this.#saving = this.#saving
      .then(() => this.store.put(`${PREFIX}${roomId}`, bytes))
      .catch(() => undefined);
  }

  /** Resolves once every queued write is done. */
  flushed(): Promise<unknown> {
    return this.#saving;
  }
}
