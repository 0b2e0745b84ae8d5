/**
 * The open room: its members (with presence), the invite form, the messages with their
 * replies, edits, reactions and actions, and who is typing.
 */
import type { AttachmentInfo, ChatEntry, ChatLog, ChatMessage, LogIndex } from "../chatLog.js";
import { type Child, h } from "./dom.js";
import { sizeText } from "./thumbnail.js";

export const REACTIONS = ["👍", "❤️", "😂", "🎉"] as const;

export interface RoomHead {
  title: string;
  members: { userId: string; presence: string | undefined }[];
  canInvite: boolean;
  canRedact: boolean;
  joining: boolean;
  /** This user is no longer a member (left or removed). */
  removed: boolean;
}

export interface ConversationActions {
  invite(userId: string): void;
  leave(): void;
  reply(at: LogIndex): void;
  edit(at: LogIndex): void;
  react(at: LogIndex, emoji: string): void;
  redact(at: LogIndex): void;
  /** The object URL of an image attachment to show (thumbnail or full), once fetched. */
  image(file: AttachmentInfo): string | undefined;
  /** Fetches a file and hands it to the browser's download. */
  download(file: AttachmentInfo): void;
}

/** An image inline (its thumbnail first, then the picture), or a file to download. */
function attachmentView(file: AttachmentInfo, actions: ConversationActions): HTMLElement {
  const name = file.name ?? "file";
  const save = h(
    "button",
    { class: "action-download", type: "button", onclick: () => actions.download(file) },
    `Download (${sizeText(file.size)})`,
  );
  if (file.mime.startsWith("image/")) {
    const src = actions.image(file);
    return h(
      "figure",
      { class: "attachment image" },
      src === undefined
        ? h("div", { class: "image-loading" }, "Loading image…")
        : h("img", { class: "attachment-image", src, alt: name }),
      h("figcaption", {}, h("span", { class: "body" }, name), " ", save),
    );
  }
  return h(
    "div",
    { class: "attachment file" },
    h("span", { class: "file-icon" }, "📄"),
    h("span", { class: "body" }, name),
    save,
  );
}

export function headView(head: RoomHead, actions: ConversationActions): HTMLElement {
  const who = h("input", {
    id: "invite-user",
    placeholder: "user id to invite",
    "aria-label": "User id to invite",
    autocomplete: "off",
    maxlength: 128,
  });
  return h(
    "header",
    { class: "room-head" },
    h(
      "div",
      {},
      h("h2", { id: "room-title" }, head.title),
      h(
        "div",
        { class: "members", id: "members" },
        head.members.map((m) =>
          h(
            "span",
            { class: `member ${m.presence ?? "unknown"}`, title: m.presence ?? "" },
            h("span", { class: "dot" }),
            m.userId,
          ),
        ),
      ),
    ),
    h(
      "div",
      { class: "room-tools" },
      head.canInvite && !head.removed
        ? h(
            "form",
            {
              class: "invite",
              onsubmit: (ev: Event) => {
                ev.preventDefault();
                const v = who.value.trim();
                if (v !== "") {
                  actions.invite(v);
                  who.value = "";
                }
              },
            },
            who,
            h("button", { id: "invite-submit", type: "submit" }, "Invite"),
          )
        : null,
      head.joining || head.removed
        ? null
        : confirmButton("action-leave", "Leave", "Leave this room?", actions.leave),
    ),
  );
}

function time(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

function messageView(
  m: ChatMessage,
  log: ChatLog,
  me: string,
  canRedact: boolean,
  actions: ConversationActions,
): HTMLElement {
  const quoted = m.replyTo === undefined ? undefined : log.message(m.replyTo);
  const own = m.sender === me;
  const buttons: Child[] = m.redacted
    ? []
    : [
        h(
          "button",
          { class: "action-reply", title: "Reply", onclick: () => actions.reply(m.logIndex) },
          "Reply",
        ),
        REACTIONS.map((e) =>
          h(
            "button",
            {
              class: "action-react",
              title: `React ${e}`,
              onclick: () => actions.react(m.logIndex, e),
            },
            e,
          ),
        ),
        own && m.attachment === undefined
          ? h(
              "button",
              { class: "action-edit", title: "Edit", onclick: () => actions.edit(m.logIndex) },
              "Edit",
            )
          : null,
        canRedact
          ? confirmButton("action-delete", "Delete", "Delete for everyone?", () =>
              actions.redact(m.logIndex),
            )
          : null,
      ];
  return h(
    "li",
    {
      class: `message${own ? " own" : ""}${m.redacted ? " redacted" : ""}`,
      "data-index": m.logIndex,
    },
    h(
      "div",
      { class: "meta" },
      h("span", { class: "sender" }, m.sender),
      h("span", { class: "time" }, time(m.sentAt)),
      m.edited ? h("span", { class: "edited" }, "(edited)") : null,
    ),
    m.replyTo === undefined
      ? null
      : h(
          "div",
          { class: "quote" },
          quoted === undefined
            ? "a message not on this device"
            : quoted.redacted
              ? "a deleted message"
              : `${quoted.sender}: ${quoted.body.slice(0, 120)}`,
        ),
    m.attachment !== undefined && !m.redacted
      ? attachmentView(m.attachment, actions)
      : h("div", { class: "body" }, m.redacted ? "This message was deleted." : m.body),
    Object.keys(m.reactions).length === 0
      ? null
      : h(
          "div",
          { class: "reactions" },
          Object.entries(m.reactions).map(([emoji, users]) =>
            h(
              "button",
              {
                class: `reaction${users.includes(me) ? " mine" : ""}`,
                title: users.join(", "),
                onclick: () => actions.react(m.logIndex, emoji),
              },
              `${emoji} ${users.length}`,
            ),
          ),
        ),
    buttons.length === 0 ? null : h("div", { class: "actions" }, buttons),
  );
}

/** A button that acts on its second click, saying what it will do after the first (no modal dialog). */
function confirmButton(
  cls: string,
  label: string,
  question: string,
  confirmed: () => void,
): HTMLElement {
  let armed = false;
  const b = h("button", { class: cls, title: question, type: "button" }, label);
  b.addEventListener("click", () => {
    if (armed) {
      confirmed();
      return;
    }
    armed = true;
    b.textContent = question;
    b.classList.add("armed");
  });
  return b;
}

function entryView(
  e: ChatEntry,
  log: ChatLog,
  me: string,
  canRedact: boolean,
  actions: ConversationActions,
): HTMLElement {
  if (e.kind === "notice") return h("li", { class: "notice" }, e.text);
  return messageView(e, log, me, canRedact, actions);
}

export function messagesView(
  log: ChatLog,
  me: string,
  head: RoomHead,
  actions: ConversationActions,
): HTMLElement {
  return h(
    "ol",
    { class: "messages", id: "messages" },
    log.entries.length === 0
      ? h(
          "li",
          { class: "notice" },
          head.joining
            ? "Joining the room…"
            : "No messages yet. Invite someone by their user id, then say hello.",
        )
      : null,
    log.entries.map((e) => entryView(e, log, me, head.canRedact, actions)),
  );
}

export function typingText(users: string[]): string {
  if (users.length === 0) return "";
  if (users.length === 1) return `${users[0]} is typing…`;
  return `${users.slice(0, -1).join(", ")} and ${users[users.length - 1]} are typing…`;
}
