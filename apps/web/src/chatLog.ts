/**
 * One room's conversation as the app shows it, built from the client's events in log
 * order: messages with their replies, edits (by their author only), reactions (a second
 * identical reaction by the same user takes it back), redactions, and notices of
 * membership changes. Every member applies the same log in the same order, so every
 * member's view is the same. Plain data, so the app can keep it in IndexedDB (JSON).
 */

/** Log indexes travel as decimal strings: JSON has no bigint. */
export type LogIndex = string;

export interface ChatMessage {
  kind: "message";
  logIndex: LogIndex;
  sender: string;
  body: string;
  /** Sender's clock, ms since the Unix epoch. */
  sentAt: number;
  replyTo?: LogIndex;
  edited?: boolean;
  /** emoji → users who reacted with it, in the order they did. */
  reactions: Record<string, string[]>;
  redacted?: boolean;
  /** A file or image: `body` is then its name (docs/client.md "Attachments"). */
  attachment?: AttachmentInfo;
}

/** What fetching and opening an attachment needs, JSON-safe (hex for bytes). */
export interface AttachmentInfo {
  hash: string;
  key: string;
  size: number;
  mime: string;
  name?: string;
  thumb?: { hash: string; key: string; size: number; mime: string };
}

export interface ChatNotice {
  kind: "notice";
  key: string;
  text: string;
}

export type ChatEntry = ChatMessage | ChatNotice;

/** What a message event carries, reduced to what the conversation needs. */
export type Content =
  | { t: "text"; body: string }
  | { t: "reply"; target: bigint; body: string }
  | { t: "edit"; target: bigint; body: string }
  | { t: "reaction"; target: bigint; emoji: string }
  | { t: "attachment"; file: AttachmentInfo }
  | { t: "other"; what: string };

export interface ChatLogData {
  entries: ChatEntry[];
  /** Redactions that arrived before their message (kept so it shows redacted when it does). */
  redactedEarly: LogIndex[];
  /** The highest log index applied; the client delivers a room's frames in log order. */
  last: LogIndex;
}

export class ChatLog {
  readonly entries: ChatEntry[];
  readonly #messages = new Map<LogIndex, ChatMessage>();
  readonly #redactedEarly: Set<LogIndex>;
  #last: bigint;

  constructor(data?: ChatLogData) {
    this.entries = data?.entries ?? [];
    this.#redactedEarly = new Set(data?.redactedEarly ?? []);
    this.#last = BigInt(data?.last ?? -1);
    for (const e of this.entries) if (e.kind === "message") this.#messages.set(e.logIndex, e);
  }

  message(logIndex: LogIndex): ChatMessage | undefined {
    return this.#messages.get(logIndex);
  }

  /** Messages only, in log order. */
  messages(): ChatMessage[] {
    return this.entries.filter((e): e is ChatMessage => e.kind === "message");
  }

  /** Applies one sequenced application message; one at or below the last applied is a repeat. */
  applyMessage(logIndex: bigint, sender: string, sentAt: number, content: Content): void {
    if (logIndex <= this.#last) return;
    this.#last = logIndex;
    const at = String(logIndex);
    switch (content.t) {
      case "text":
      case "reply":
      case "attachment": {
        const m: ChatMessage = {
          kind: "message",
          logIndex: at,
          sender,
          body: content.t === "attachment" ? (content.file.name ?? "file") : content.body,
          sentAt,
          reactions: {},
          ...(content.t === "reply" ? { replyTo: String(content.target) } : {}),
          ...(content.t === "attachment" ? { attachment: content.file } : {}),
        };
        if (this.#redactedEarly.delete(at)) redact(m);
        this.#messages.set(at, m);
        this.entries.push(m);
        return;
      }
      case "edit": {
        const m = this.#messages.get(String(content.target));
        // Only the author edits its message (a file's name is not text to edit); a
        // redacted one stays redacted.
        if (m === undefined || m.sender !== sender || m.redacted || m.attachment) return;
        m.body = content.body;
        m.edited = true;
        return;
      }
      case "reaction": {
        const m = this.#messages.get(String(content.target));
        if (m === undefined || m.redacted) return;
        const users = m.reactions[content.emoji] ?? [];
        const i = users.indexOf(sender);
        if (i >= 0) users.splice(i, 1);
        else users.push(sender);
        if (users.length === 0) delete m.reactions[content.emoji];
        else m.reactions[content.emoji] = users;
        return;
      }
      case "other":
        this.notice(`m${at}`, `${sender} sent ${content.what} (not shown here)`);
        return;
    }
  }

  /** A REDACTION notice: the message's content is gone for good. */
  applyRedaction(logIndex: bigint): void {
    const at = String(logIndex);
    const m = this.#messages.get(at);
    if (m === undefined) {
      this.#redactedEarly.add(at);
      return;
    }
    redact(m);
  }

  /** A line about the room itself (joins, leaves); `key` makes repeats harmless. */
  notice(key: string, text: string): void {
    if (this.entries.some((e) => e.kind === "notice" && e.key === key)) return;
    this.entries.push({ kind: "notice", key, text });
  }

  toJSON(): ChatLogData {
    return {
      entries: this.entries,
      redactedEarly: [...this.#redactedEarly],
      last: String(this.#last),
    };
  }
}

function redact(m: ChatMessage): void {
  m.redacted = true;
  // The key goes too: the hub erases the blob with its last reference (issue 17).
  delete m.attachment;
  m.body = "";
  m.reactions = {};
  m.edited = false;
}
