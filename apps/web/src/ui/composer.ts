/**
 * The message box: Enter sends, Shift+Enter is a new line; "Attach" picks a file to send;
 * a bar above it says which message a reply or an edit is for. Built once per room view and kept across renders, so
 * what the user is typing survives incoming messages.
 */
import { h, replace } from "./dom.js";

export interface ComposerActions {
  send(text: string): void;
  /** A file the user picked to send. */
  attach(file: File): void;
  /** Called on every keystroke (the typing indicator). */
  typing(): void;
  cancel(): void;
}

export class Composer {
  readonly el: HTMLFormElement;
  readonly #input: HTMLTextAreaElement;
  readonly #bar: HTMLDivElement;
  readonly #file: HTMLInputElement;
  readonly #attach: HTMLButtonElement;

  constructor(actions: ComposerActions) {
    this.#input = h("textarea", {
      id: "composer-input",
      rows: 2,
      placeholder: "Write a message…",
      "aria-label": "Message",
      maxlength: 16000,
    });
    this.#bar = h("div", { class: "context-bar", hidden: true });
    this.#file = h("input", { id: "composer-file", type: "file", hidden: true });
    this.#file.addEventListener("change", () => {
      const file = this.#file.files?.[0];
      this.#file.value = "";
      if (file !== undefined) actions.attach(file);
    });
    this.#attach = h(
      "button",
      { id: "attach", type: "button", title: "Send a file", onclick: () => this.#file.click() },
      "Attach",
    );
    const submit = () => {
      const text = this.#input.value.trim();
      if (text === "") return;
      this.#input.value = "";
      actions.send(text);
    };
    this.#input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) {
        ev.preventDefault();
        submit();
      } else if (ev.key === "Escape") actions.cancel();
    });
    this.#input.addEventListener("input", () => actions.typing());
    this.el = h(
      "form",
      {
        class: "composer",
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          submit();
        },
      },
      this.#bar,
      h(
        "div",
        { class: "row" },
        this.#file,
        this.#attach,
        this.#input,
        h("button", { id: "send", type: "submit", class: "primary" }, "Send"),
      ),
    );
  }

  /** Shows what the next send is (a reply or an edit), or nothing. */
  context(text: string | undefined, cancel: () => void): void {
    if (text === undefined) {
      this.#bar.hidden = true;
      replace(this.#bar);
      return;
    }
    this.#bar.hidden = false;
    replace(
      this.#bar,
      h("span", {}, text),
      h("button", { type: "button", class: "link", onclick: () => cancel() }, "cancel"),
    );
  }

  fill(text: string): void {
    this.#input.value = text;
    this.focus();
  }

  focus(): void {
    this.#input.focus();
  }

  set enabled(on: boolean) {
    this.#input.disabled = !on;
    this.#attach.disabled = !on;
    this.#input.placeholder = on ? "Write a message…" : "You cannot write in this room";
  }
}
