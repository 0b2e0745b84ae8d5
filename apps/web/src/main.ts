/** The page's entry: read the hub's settings, start the app. */
import { App } from "./app.js";
import { fetchSettings } from "./settings.js";

async function main(): Promise<void> {
  const root = document.getElementById("app");
  if (root === null) return;
  try {
    const settings = await fetchSettings();
    const app = new App(root, settings, {
      location,
      history,
      session: sessionStorage,
      visible: () => document.visibilityState === "visible",
      onVisibilityChange: (cb) => document.addEventListener("visibilitychange", cb),
      oidc: {
        fetch: (input, init) => fetch(input, init),
        storage: sessionStorage,
        randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
        sha256: async (d) => new Uint8Array(await crypto.subtle.digest("SHA-256", d.slice())),
      },
    });
    await app.start();
  } catch (e) {
    root.textContent = `This page could not reach its hub: ${e instanceof Error ? e.message : String(e)}`;
  }
}

void main();
