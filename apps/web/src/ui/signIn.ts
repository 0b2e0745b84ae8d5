/** The sign-in screen: a name under the development authenticator, the issuer's login under OIDC. */
import type { AppSettings } from "../settings.js";
import { h } from "./dom.js";

export interface SignInActions {
  dev(userId: string): void;
  oidc(): void;
}

export function signInView(
  settings: AppSettings,
  actions: SignInActions,
  error: string | undefined,
): HTMLElement {
  const methods = settings.auth.methods;
  const name = h("input", {
    id: "signin-user",
    name: "user",
    placeholder: "alice",
    autocomplete: "username",
    required: true,
    maxlength: 64,
    pattern: "\\S+",
    title: "a name without spaces",
  });
  const dev = methods.includes("dev")
    ? h(
        "form",
        {
          class: "signin-form",
          onsubmit: (ev: Event) => {
            ev.preventDefault();
            const v = name.value.trim();
            if (v !== "") actions.dev(v);
          },
        },
        h("label", { for: "signin-user" }, "Your name on this hub"),
        h(
          "div",
          { class: "row" },
          name,
          h("button", { id: "signin-submit", type: "submit" }, "Sign in"),
        ),
        h(
          "p",
          { class: "hint" },
          "Development mode: anyone on this machine may pick any name. Open a second window and sign in as someone else to chat.",
        ),
      )
    : null;
  const oidc = settings.auth.oidc
    ? h(
        "div",
        { class: "signin-form" },
        h(
          "button",
          { id: "signin-oidc", type: "button", onclick: () => actions.oidc() },
          `Sign in with ${new URL(settings.auth.oidc.issuer).host}`,
        ),
      )
    : null;
  return h(
    "div",
    { class: "signin" },
    h(
      "div",
      { class: "card" },
      h("h1", {}, "Kalandra"),
      h("p", { class: "tagline" }, "End-to-end encrypted rooms on ", h("b", {}, settings.domain)),
      dev,
      oidc,
      dev === null && oidc === null
        ? h("p", { class: "error" }, "This hub offers no sign-in method this app knows.")
        : null,
      error === undefined ? null : h("p", { class: "error", id: "signin-error" }, error),
    ),
  );
}
