/**
 * Wire's core-crypto (OpenMLS) for the interop suite, installed at test time into a scratch
 * folder: it is GPL-3.0, so it is never a dependency of a workspace package nor committed
 * (docs/mls-interop.md). Loading it takes two repairs on these machines:
 *   - its native library asks glibc 2.38 for one symbol: rewritten in the scratch copy
 *     (glibcSymbol.ts);
 *   - its `transaction()` calls `Error.isError` (absent in Node 20): without it any error
 *     that is not a CoreCryptoError thrown inside a transaction is silently swallowed, so
 *     we polyfill it and `checkTransactionsRethrow` proves errors come out again.
 * The types below cover only what the suite calls (the package's own .d.ts is
 * dist/native/corecrypto.d.ts in the scratch copy).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { rewriteC23Strtol } from "./glibcSymbol.js";

export const CORE_CRYPTO_VERSION = "10.3.0";
const PACKAGES = [
  `@wireapp/core-crypto@${CORE_CRYPTO_VERSION}`,
  // core-crypto's uniffi runtime; its peer range does not admit this prerelease, hence
  // --legacy-peer-deps (PROBES.md).
  "@ubjs/node@0.31.0-3",
  "@ubjs/core@0.31.0-3",
];

export interface Handle {
  uniffiDestroy(): void;
}
export interface ClientId extends Handle {
  copyBytes(): Uint8Array;
}
export interface ConversationId extends Handle {
  copyBytes(): Uint8Array;
}
export interface SerializableMessage extends Handle {
  serialize(): Uint8Array;
}
export type CredentialRef = Handle;
export interface CommitBundle {
  commit: Uint8Array;
  welcome?: SerializableMessage;
  groupInfo: { payload: Uint8Array };
}
export interface MlsTransport {
  sendCommitBundle(bundle: CommitBundle): Promise<void>;
  prepareForTransport(secret: unknown): Promise<Uint8Array>;
}
export type DecryptedMessage =
  | { tag: "Text"; inner: { plaintext: Uint8Array; senderClientId: ClientId } }
  | { tag: "Commit"; inner: { isActive: boolean } }
  | { tag: "Proposal"; inner: unknown };

export interface Context {
  mlsInit(id: ClientId, transport: MlsTransport): Promise<void>;
  addCredential(credential: Handle): Promise<CredentialRef>;
  generateKeyPackage(ref: CredentialRef): Promise<SerializableMessage>;
  createConversation(
    id: ConversationId,
    ref: CredentialRef,
    externalSender?: Handle,
  ): Promise<void>;
  addClientsToConversation(id: ConversationId, keyPackages: Handle[]): Promise<void>;
  removeClientsFromConversation(id: ConversationId, clients: ClientId[]): Promise<void>;
  updateKeyingMaterial(id: ConversationId): Promise<void>;
  commitPendingProposals(id: ConversationId): Promise<void>;
  processWelcomeMessage(welcome: Handle): Promise<ConversationId>;
  joinByExternalCommit(groupInfo: Handle, ref: CredentialRef): Promise<ConversationId>;
  decryptMessage(id: ConversationId, payload: Uint8Array): Promise<DecryptedMessage>;
  encryptMessage(id: ConversationId, plaintext: Uint8Array): Promise<Uint8Array>;
  exportSecretKey(id: ConversationId, length: number): Promise<{ copyBytes(): Uint8Array }>;
  conversationEpoch(id: ConversationId): Promise<bigint>;
  getClientIds(id: ConversationId): Promise<ClientId[]>;
}
export interface CoreCryptoInstance {
  transaction<R>(callback: (ctx: Context) => Promise<R>): Promise<R>;
}

/** The part of `@wireapp/core-crypto/native` the suite uses. */
export interface CoreCryptoModule {
  version(): string;
  Database: { inMemory(): Promise<Handle> };
  CoreCrypto: { new: (db: Handle) => CoreCryptoInstance };
  ClientId: new (user: Handle, device: Handle, domain: string) => ClientId;
  Uuid: new (uuid: string) => Handle;
  DeviceId: new (id: bigint) => Handle;
  ConversationId: new (bytes: Uint8Array) => ConversationId;
  Credential: { basic(suite: number, id: ClientId): Handle };
  KeyPackage: new (bytes: Uint8Array) => SerializableMessage;
  Welcome: new (bytes: Uint8Array) => SerializableMessage;
  GroupInfo: new (bytes: Uint8Array) => Handle;
  ExternalSender: { parsePublicKey(key: Uint8Array, scheme: number): Handle };
  CipherSuite: { Mls128Dhkemx25519Aes128gcmSha256Ed25519: number };
  SignatureScheme: { Ed25519: number };
}

export interface InstalledCoreCrypto {
  cc: CoreCryptoModule;
  folder: string;
  /** Wall time of the npm install, ms. */
  installMs: number;
  remove(): void;
}

/**
 * npm-installs core-crypto into a fresh folder under the OS temp dir (cache-free, about
 * 2 s), rewrites the glibc symbol and imports it with `Error.isError` polyfilled.
 */
export async function installCoreCrypto(): Promise<InstalledCoreCrypto> {
  const folder = mkdtempSync(join(tmpdir(), "kalandra-interop-"));
  const remove = () => rmSync(folder, { recursive: true, force: true });
  try {
    writeFileSync(join(folder, "package.json"), '{ "name": "scratch", "private": true }\n');
    const started = performance.now();
    execFileSync(
      "npm",
      [
        "install",
        "--legacy-peer-deps",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--no-package-lock",
        "--loglevel=error",
        ...PACKAGES,
      ],
      { cwd: folder, stdio: ["ignore", "ignore", "inherit"], timeout: 180_000 },
    );
    const installMs = performance.now() - started;
    const native = join(folder, "node_modules/@wireapp/core-crypto/dist/native");
    if (process.platform === "linux") rewriteC23Strtol(join(native, "libcore_crypto_ffi.so"));
    polyfillErrorIsError();
    const cc = (await import(
      pathToFileURL(join(native, "corecrypto.js")).href
    )) as CoreCryptoModule;
    if (cc.version() !== CORE_CRYPTO_VERSION)
      throw new Error(`core-crypto reports ${cc.version()}, expected ${CORE_CRYPTO_VERSION}`);
    return { cc, folder, installMs, remove };
  } catch (e) {
    remove();
    throw e;
  }
}

/** ES2026 `Error.isError` (Node 20 lacks it); core-crypto's transaction() needs it. */
export function polyfillErrorIsError(): void {
  const E = Error as unknown as { isError?: (v: unknown) => boolean };
  if (typeof E.isError === "function") return;
  E.isError = (v: unknown) =>
    v instanceof Error || Object.prototype.toString.call(v) === "[object Error]";
}

/**
 * The guard against a vacuous pass: an ordinary Error thrown inside a transaction must come
 * out of `transaction()`. Without the polyfill it is swallowed and the call resolves.
 */
export async function checkTransactionsRethrow(cc: CoreCryptoModule): Promise<void> {
  const instance = cc.CoreCrypto.new(await cc.Database.inMemory());
  const canary = new Error("interop canary");
  let seen: unknown;
  try {
    await instance.transaction(async () => {
      throw canary;
    });
  } catch (e) {
    seen = e;
  }
  if (seen !== canary)
    throw new Error(`a transaction swallowed an error (got ${String(seen)} instead of the canary)`);
}
