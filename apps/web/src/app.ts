/**
 * The app: signs a user in (dev name or OIDC), keeps the client's events in `Rooms`, and
 * renders the sidebar and the open room. Everything the user does goes through the client
 * core (`@kalandra/client`); errors are shown, never thrown at the page.
 */
import type { ClientEvent, ConnectionState } from "@kalandra/client";
import type { LogIndex } from "./chatLog.js";
import { type Connected, connect, type SignIn } from "./connection.js";
import { Media } from "./media.js";
import { finishLogin, loginUrl, type OidcEnv, userIdFromToken } from "./oidc.js";
import { Rooms } from "./rooms.js";
import { type AppSettings, websocketUrl } from "./settings.js";
import { Composer } from "./ui/composer.js";
import {
  type ConversationActions,
  headView,
  messagesView,
  type RoomHead,
  typingText,
} from "./ui/conversation.js";
import { h, replace } from "./ui/dom.js";
import { type RoomItem, sidebarView } from "./ui/sidebar.js";
import { signInView } from "./ui/signIn.js";
import { sizeText } from "./ui/thumbnail.js";

/** The user this tab signed in as (per tab, so two windows can be two users). */
const USER_KEY = "kalandra.user";

export interface AppEnv {
  location: Location;
  history: History;
  session: Storage;
  oidc: OidcEnv;
  /** Whether the tab is visible now, and a hook for when that changes (presence). */
  visible(): boolean;
  onVisibilityChange(cb: () => void): void;
}

export class App {
  #c: Connected | undefined;
  #rooms: Rooms | undefined;
  #status: ConnectionState = "connecting";
  #current: bigint | undefined;
  #context: { kind: "reply" | "edit"; at: LogIndex } | undefined;
  #unread = new Map<bigint, number>();
  #notice: string | undefined;
  #ownPresence = "online";
  /** What is being sent or fetched now ("Sending photo.png… 40 %"), shown above the composer. */
  #transfer: string | undefined;
  #media = new Media(
    () => this.#c?.client,
    () => this.#render(),
    (e) => {
      this.#notice = `Could not fetch an attachment: ${message(e)}`;
    },
  );
  #composer: Composer;
  #main = h("main", { class: "conversation" });
  #sidebar = h("div", { class: "sidebar-slot" });

  constructor(
    private readonly root: HTMLElement,
    private readonly settings: AppSettings,
    private readonly env: AppEnv,
  ) {
    this.#composer = new Composer({
      send: (text) => void this.#send(text),
      attach: (file) => void this.#attachFile(file),
      typing: () => this.#signalTyping(true),
      cancel: () => this.#setContext(undefined),
    });
  }

  get #redirectUri(): string {
    return `${this.env.location.origin}/`;
  }

  /** Resumes this tab's user, finishes an OIDC login, or shows the sign-in screen. */
  async start(): Promise<void> {
    const oidc = this.settings.auth.oidc;
    if (oidc !== undefined && this.env.location.search.includes("code=")) {
      try {
        const token = await finishLogin(
          this.env.oidc,
          oidc,
          this.#redirectUri,
          this.env.location.search,
        );
        this.env.history.replaceState(null, "", "/");
        if (token !== undefined) {
          const userId = userIdFromToken(token, oidc.userClaim, this.settings.domain);
          const credential = new TextEncoder().encode(token);
          return this.#signIn({ userId, auth: { method: "oidc", credential } });
        }
      } catch (e) {
        return this.#showSignIn(message(e));
      }
    }
    const user = this.env.session.getItem(USER_KEY);
    if (user !== null) return this.#signIn({ userId: user });
    this.#showSignIn(undefined);
  }

  #showSignIn(error: string | undefined): void {
    replace(
      this.root,
      signInView(
        this.settings,
        {
          dev: (userId) => void this.#signIn({ userId }),
          oidc: () => void this.#oidcLogin(),
        },
        error,
      ),
    );
  }

  async #oidcLogin(): Promise<void> {
    const oidc = this.settings.auth.oidc;
    if (oidc === undefined) return;
    try {
      this.env.location.assign(await loginUrl(this.env.oidc, oidc, this.#redirectUri));
    } catch (e) {
      this.#showSignIn(message(e));
    }
  }

  async #signIn(signIn: SignIn): Promise<void> {
    replace(this.root, h("div", { class: "signin" }, h("div", { class: "card" }, "Connecting…")));
    try {
      const url = websocketUrl(this.settings, this.env.location);
      const c = await connect(this.settings, signIn, url, (s) => {
        this.#status = s;
        this.#render();
      });
      this.#c = c;
      this.#rooms = await Rooms.load(c.store, c.client.userId);
      this.env.session.setItem(USER_KEY, c.client.userId);
      c.client.on((e) => this.#onEvent(e));
      this.#announcePresence();
      this.env.onVisibilityChange(() => this.#announcePresence());
      this.#current = c.client.rooms()[0];
      replace(this.root, h("div", { class: "layout" }, this.#sidebar, this.#main));
      this.#render();
    } catch (e) {
      this.env.session.removeItem(USER_KEY);
      this.#showSignIn(`Could not sign in as ${signIn.userId}: ${message(e)}`);
    }
  }

  #signOut(): void {
    this.#c?.client.setPresence(undefined);
    this.#c?.close();
    this.#c = undefined;
    this.#current = undefined;
    this.env.session.removeItem(USER_KEY);
    this.#showSignIn(undefined);
  }

  #onEvent(e: ClientEvent): void {
    if (e.type === "error") {
      this.#notice = message(e.error);
    }
    const room = this.#rooms?.apply(e);
    if (e.type === "joined") {
      this.#current ??= e.roomId;
      void this.#c?.client.roomPolicy(e.roomId).then(
        () => this.#render(),
        () => undefined,
      );
    }
    if (room !== undefined && room !== this.#current && e.type === "message") {
      this.#unread.set(room, (this.#unread.get(room) ?? 0) + 1);
    }
    this.#render();
  }

  #title(id: bigint): string {
    const me = this.#c?.client.userId;
    const others = [...new Set(this.#c?.client.room(id)?.members ?? [])].filter((u) => u !== me);
    return others.length === 0 ? "Just you" : others.join(", ");
  }

  #head(id: bigint): RoomHead {
    const c = this.#c;
    const view = c?.client.room(id);
    const me = c?.client.userId;
    const present = new Map(c?.client.presence(id).present.map((p) => [p.userId, p.status]));
    const role = view?.role;
    return {
      title: this.#title(id),
      members: [...new Set(view?.members ?? [])].map((userId) => ({
        userId,
        presence: userId === me ? this.#ownPresence : present.get(userId),
      })),
      canInvite: role === undefined || role === "owner" || role === "admin",
      canRedact: role === "owner" || role === "admin",
      joining: view === undefined || view.phase.kind === "pendingWelcome",
      removed: view?.phase.kind === "removed",
    };
  }

  #render(): void {
    const c = this.#c;
    const rooms = this.#rooms;
    if (c === undefined || rooms === undefined) return;
    const items: RoomItem[] = c.client.rooms().map((id) => ({
      id,
      title: this.#title(id),
      joining: c.client.room(id)?.phase.kind === "pendingWelcome",
      unread: this.#unread.get(id) ?? 0,
    }));
    replace(
      this.#sidebar,
      sidebarView(c.client.userId, this.#status, items, this.#current, {
        open: (id) => this.#open(id),
        newRoom: () => void this.#newRoom(),
        signOut: () => this.#signOut(),
      }),
    );
    const notice =
      this.#notice === undefined
        ? null
        : h("div", { class: "toast", id: "toast", onclick: () => this.#dismiss() }, this.#notice);
    if (this.#current === undefined) {
      replace(
        this.#main,
        notice,
        h(
          "div",
          { class: "welcome" },
          h("h2", {}, `Hello, ${c.client.userId}`),
          h("p", {}, "Create a room, then invite someone by their user id."),
          h("p", {}, "Rooms you are invited to appear on the left by themselves."),
        ),
      );
      return;
    }
    const id = this.#current;
    const head = this.#head(id);
    const list = messagesView(rooms.log(id), c.client.userId, head, this.#actions(id));
    const old = this.#main.querySelector("#messages");
    const stick = old === null || old.scrollHeight - old.scrollTop - old.clientHeight < 80;
    const scrollTop = old?.scrollTop ?? 0;
    replace(
      this.#main,
      notice,
      headView(head, this.#actions(id)),
      list,
      h("div", { class: "typing", id: "typing" }, typingText(this.#typing(id))),
      h("div", { class: "transfer", id: "transfer" }, this.#transfer ?? ""),
      this.#composer.el,
    );
    list.scrollTop = stick ? list.scrollHeight : scrollTop;
    this.#composer.enabled = !head.joining && !head.removed;
  }

  /** The other users typing in the room now (one entry per user, whatever its devices). */
  #typing(id: bigint): string[] {
    const me = this.#c?.client.userId;
    const users = this.#c?.client.presence(id).typing.map((t) => t.userId) ?? [];
    return [...new Set(users)].filter((u) => u !== me);
  }

  /** Tells the open room this user is typing (renewals are spaced by the client), or stopped. */
  #signalTyping(typing: boolean): void {
    if (this.#current === undefined) return;
    try {
      this.#c?.client.setTyping(this.#current, typing);
    } catch {
      // not (or no longer) a member of the room: nobody to tell
    }
  }

  /** "online" while the tab is visible, "away" while hidden; others see it as a dot. */
  #announcePresence(): void {
    this.#ownPresence = this.env.visible() ? "online" : "away";
    this.#c?.client.setPresence(this.#ownPresence);
  }

  #dismiss(): void {
    this.#notice = undefined;
    this.#render();
  }

  #open(id: bigint): void {
    this.#current = id;
    this.#unread.delete(id);
    this.#setContext(undefined);
    this.#render();
    this.#composer.focus();
  }

  #actions(roomId: bigint): ConversationActions {
    return {
      invite: (userId) => void this.#invite(roomId, userId),
      leave: () => void this.#do(() => this.#c?.client.leave(roomId), "Could not leave"),
      reply: (at) => this.#setContext({ kind: "reply", at }),
      edit: (at) => {
        this.#setContext({ kind: "edit", at });
        this.#composer.fill(this.#rooms?.log(roomId).message(at)?.body ?? "");
      },
      react: (at, emoji) =>
        void this.#do(() =>
          this.#c?.client.send(roomId, { t: "reaction", target: BigInt(at), emoji }),
        ),
      redact: (at) =>
        void this.#do(() => this.#c?.client.redact(roomId, BigInt(at), "deleted in the web app")),
      image: (file) => this.#media.image(roomId, file),
      download: (file) =>
        void this.#do(() =>
          this.#showing(`Fetching ${file.name ?? "file"}`, (onProgress) =>
            this.#media.download(roomId, file, onProgress),
          ),
        ),
    };
  }

  /** Sends a picked file (with a thumbnail for an image), showing its progress. */
  async #attachFile(file: File): Promise<void> {
    const room = this.#current;
    if (room === undefined) return;
    await this.#do(() =>
      this.#showing(`Sending ${file.name}`, (onProgress) =>
        this.#media.send(room, file, onProgress),
      ),
    );
  }

  /** Runs a transfer with its progress in the status line; the line clears when it ends. */
  async #showing<T>(
    what: string,
    run: (onProgress: (p: { loaded: number; total: number }) => void) => Promise<T>,
  ): Promise<T> {
    const show = (text: string | undefined) => {
      this.#transfer = text;
      const el = this.#main.querySelector("#transfer");
      if (el !== null) el.textContent = text ?? "";
    };
    show(`${what}…`);
    try {
      return await run(({ loaded, total }) =>
        show(`${what}… ${Math.floor((100 * loaded) / total)} % of ${sizeText(total)}`),
      );
    } finally {
      show(undefined);
    }
  }

  #setContext(ctx: { kind: "reply" | "edit"; at: LogIndex } | undefined): void {
    this.#context = ctx;
    const m =
      ctx === undefined || this.#current === undefined
        ? undefined
        : this.#rooms?.log(this.#current).message(ctx.at);
    const text =
      ctx === undefined || m === undefined
        ? undefined
        : ctx.kind === "reply"
          ? `Replying to ${m.sender}: ${m.body.slice(0, 80)}`
          : "Editing your message";
    if (text === undefined) this.#context = undefined;
    this.#composer.context(text, () => this.#setContext(undefined));
    this.#composer.focus();
  }

  async #send(text: string): Promise<void> {
    const room = this.#current;
    if (room === undefined) return;
    const ctx = this.#context;
    this.#setContext(undefined);
    this.#signalTyping(false);
    await this.#do(() =>
      this.#c?.client.send(
        room,
        ctx === undefined
          ? { t: "text", body: text }
          : ctx.kind === "reply"
            ? { t: "reply", target: BigInt(ctx.at), body: text }
            : { t: "edit", target: BigInt(ctx.at), body: text },
      ),
    );
  }

  async #newRoom(): Promise<void> {
    const c = this.#c;
    if (c === undefined) return;
    await this.#do(async () => {
      const id = await c.client.createRoom();
      this.#rooms?.log(id).notice("created", "You created this room");
      this.#rooms?.save(id);
      this.#open(id);
      await c.client.roomPolicy(id).catch(() => undefined);
    });
  }

  async #invite(roomId: bigint, userId: string): Promise<void> {
    const user =
      userId.includes("@") || this.settings.auth.methods.includes("dev")
        ? userId
        : `${userId}@${this.settings.domain}`;
    await this.#do(async () => {
      await this.#c?.client.addMembers(roomId, [user]);
    }, `Could not invite ${user}`);
  }

  /** Runs a user action; a failure becomes the notice at the top of the room. */
  async #do(fn: () => Promise<unknown> | undefined, what?: string): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.#notice = what === undefined ? message(e) : `${what}: ${message(e)}`;
    }
    this.#render();
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
