/**
 * The hub's key file (runtime/node/hubKey.ts): made once from a random seed (not
 * generateKeyPairSync, which can deadlock Node 20 when its job is collected during the
 * key's export), mode 0600, and the same key on every later start.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { ed25519Verify } from "@kalandra/proto";
import { ed25519KeySigner } from "@kalandra/proto/node";
import { tempDir } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { loadOrCreateHubKey } from "../../src/runtime/node/hubKey.js";

const dir = tempDir("hub-key");
afterAll(() => dir.cleanup());

describe("hub key file", () => {
  it("is created once (0600) and loads as the same signing key afterwards", () => {
    const path = join(dir.path, "keys", "hub.pem");
    const first = loadOrCreateHubKey(path);
    expect(first.created).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = loadOrCreateHubKey(path);
    expect(again.created).toBe(false);
    expect(again.key.publicKey).toEqual(first.key.publicKey);
    const message = new TextEncoder().encode("hub");
    const signature = ed25519KeySigner(again.key.privateKey).sign(message);
    expect(ed25519Verify(first.key.publicKey, message, signature)).toBe(true);
  });

  it("makes a different key in another file", () => {
    const a = loadOrCreateHubKey(join(dir.path, "a.pem")).key.publicKey;
    const b = loadOrCreateHubKey(join(dir.path, "b.pem")).key.publicKey;
    expect(a).toHaveLength(32);
    expect(a).not.toEqual(b);
  });
});
