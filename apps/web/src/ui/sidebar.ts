/** The left column: who is signed in, the connection, the rooms, "New room". */
import type { ConnectionState } from "@kalandra/client";
import { h } from "./dom.js";

export interface RoomItem {
  id: bigint;
  title: string;
  joining: boolean;
  unread: number;
}

export interface SidebarActions {
  open(id: bigint): void;
  newRoom(): void;
  signOut(): void;
}

const STATUS_TEXT: Record<ConnectionState, string> = {
  open: "connected",
  connecting: "reconnecting…",
  closed: "offline",
};

export function sidebarView(
  me: string,
  status: ConnectionState,
  rooms: RoomItem[],
  current: bigint | undefined,
  actions: SidebarActions,
): HTMLElement {
  return h(
    "aside",
    { class: "sidebar" },
    h(
      "header",
      {},
      h("div", { class: "brand" }, "Kalandra"),
      h("div", { class: "me", id: "me" }, me),
      h("div", { class: `status ${status}`, id: "status" }, STATUS_TEXT[status]),
    ),
    h(
      "button",
      { id: "new-room", class: "primary", onclick: () => actions.newRoom() },
      "+ New room",
    ),
    h(
      "ul",
      { class: "rooms" },
      rooms.length === 0 ? h("li", { class: "empty" }, "No rooms yet") : null,
      rooms.map((r) =>
        h(
          "li",
          {
            class: `room${r.id === current ? " active" : ""}`,
            "data-room": String(r.id),
            onclick: () => actions.open(r.id),
          },
          h("span", { class: "title" }, r.title),
          r.joining ? h("span", { class: "badge" }, "joining…") : null,
          r.unread > 0 ? h("span", { class: "badge unread" }, String(r.unread)) : null,
        ),
      ),
    ),
    h(
      "footer",
      {},
      h("button", { id: "sign-out", class: "link", onclick: () => actions.signOut() }, "Sign out"),
    ),
  );
}
