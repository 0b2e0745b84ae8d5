import { describe, expect, it } from "vitest";
import { fromHex, parseSettings, SettingsError, websocketUrl } from "../src/settings.js";

const good = {
  hubPublicKey: "ab".repeat(32),
  websocketPath: "/kalandra",
  domain: "localhost",
  auth: { methods: ["dev"] },
};

describe("app settings", () => {
  it("accepts the hub's document and derives the WebSocket URL from the page's origin", () => {
    const s = parseSettings(good);
    expect(websocketUrl(s, { protocol: "http:", host: "127.0.0.1:4480" })).toBe(
      "ws://127.0.0.1:4480/kalandra",
    );
    expect(websocketUrl(s, { protocol: "https:", host: "chat.example.org" })).toBe(
      "wss://chat.example.org/kalandra",
    );
    expect(fromHex(s.hubPublicKey)).toEqual(new Uint8Array(32).fill(0xab));
  });

  it("refuses a document of another shape, naming the field", () => {
    for (const [bad, field] of [
      [null, "not an object"],
      [{ ...good, hubPublicKey: "xyz" }, "hubPublicKey"],
      [{ ...good, websocketPath: "kalandra" }, "websocketPath"],
      [{ ...good, domain: 7 }, "domain"],
      [{ ...good, auth: { methods: [1] } }, "auth.methods"],
    ] as const) {
      expect(() => parseSettings(bad)).toThrow(SettingsError);
      expect(() => parseSettings(bad)).toThrow(field);
    }
  });
});
