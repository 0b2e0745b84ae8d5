/**
 * A member on OpenMLS, through core-crypto: one CoreCrypto instance with an in-memory
 * database per member. core-crypto hands every commit it makes to its `MlsTransport` and
 * merges it only once the transport accepts; the transport here keeps the bundle so the
 * suite can deliver it to the other members.
 */
import type {
  ClientId,
  CommitBundle,
  Context,
  ConversationId,
  CoreCryptoInstance,
  CoreCryptoModule,
  CredentialRef,
} from "./coreCrypto.js";
import { parseClientId } from "./identity.js";
import {
  type CommitOut,
  expectMlsMessage,
  type InteropMember,
  type Received,
  stripMlsMessageHeader,
} from "./member.js";

/** core-crypto's exporter (export_secret_key) is RFC 9420 §8.5 MLS-Exporter with this label. */
export const CORE_CRYPTO_EXPORTER_LABEL = "exporter";

export class OpenMlsMember implements InteropMember {
  readonly impl = "openmls" as const;
  private conversation: ConversationId | undefined;

  private constructor(
    readonly identity: string,
    private readonly cc: CoreCryptoModule,
    private readonly instance: CoreCryptoInstance,
    /** Where the transport puts the bundle of the commit being made. */
    private readonly sent: { bundle?: CommitBundle },
    private readonly credential: CredentialRef,
  ) {}

  static async create(cc: CoreCryptoModule, identity: string): Promise<OpenMlsMember> {
    const instance = cc.CoreCrypto.new(await cc.Database.inMemory());
    const id = clientId(cc, identity);
    const sent: { bundle?: CommitBundle } = {};
    const credential = await instance.transaction(async (ctx) => {
      await ctx.mlsInit(id, {
        sendCommitBundle: async (bundle) => {
          sent.bundle = bundle;
        },
        prepareForTransport: async () => new Uint8Array(0),
      });
      const suite = cc.CipherSuite.Mls128Dhkemx25519Aes128gcmSha256Ed25519;
      return ctx.addCredential(cc.Credential.basic(suite, id));
    });
    return new OpenMlsMember(identity, cc, instance, sent, credential);
  }

  private get conv(): ConversationId {
    if (this.conversation === undefined) throw new Error(`${this.identity} is in no group`);
    return this.conversation;
  }

  private tx<R>(f: (ctx: Context) => Promise<R>): Promise<R> {
    return this.instance.transaction(f);
  }

  /** Runs a committing operation and returns the bundle core-crypto sent. */
  private async committing(f: (ctx: Context) => Promise<unknown>): Promise<CommitOut> {
    delete this.sent.bundle;
    await this.tx(f);
    // (TypeScript cannot see that the transaction's callback set it.)
    const bundle = this.sent.bundle as CommitBundle | undefined;
    delete this.sent.bundle;
    if (bundle === undefined) throw new Error(`${this.identity}: core-crypto sent no commit`);
    // core-crypto frames all three as MLSMessages already.
    const out: CommitOut = {
      commit: bundle.commit,
      groupInfo: expectMlsMessage(bundle.groupInfo.payload, "mls_group_info"),
    };
    if (bundle.welcome !== undefined)
      out.welcome = expectMlsMessage(bundle.welcome.serialize(), "mls_welcome");
    return out;
  }

  async keyPackage(): Promise<Uint8Array> {
    const kp = await this.tx((ctx) => ctx.generateKeyPackage(this.credential));
    return kp.serialize();
  }

  async createGroup(groupId: Uint8Array, hubPublicKey?: Uint8Array): Promise<void> {
    const id = new this.cc.ConversationId(groupId);
    const sender =
      hubPublicKey === undefined
        ? undefined
        : this.cc.ExternalSender.parsePublicKey(hubPublicKey, this.cc.SignatureScheme.Ed25519);
    await this.tx((ctx) => ctx.createConversation(id, this.credential, sender));
    this.conversation = id;
  }

  add(keyPackages: Uint8Array[]): Promise<CommitOut> {
    const kps = keyPackages.map((b) => new this.cc.KeyPackage(b));
    return this.committing((ctx) => ctx.addClientsToConversation(this.conv, kps));
  }

  update(): Promise<CommitOut> {
    return this.committing((ctx) => ctx.updateKeyingMaterial(this.conv));
  }

  remove(identities: string[]): Promise<CommitOut> {
    const ids = identities.map((i) => clientId(this.cc, i));
    return this.committing((ctx) => ctx.removeClientsFromConversation(this.conv, ids));
  }

  commitPending(): Promise<CommitOut> {
    return this.committing((ctx) => ctx.commitPendingProposals(this.conv));
  }

  async joinWelcome(welcome: Uint8Array): Promise<void> {
    const w = new this.cc.Welcome(welcome);
    this.conversation = await this.tx((ctx) => ctx.processWelcomeMessage(w));
  }

  async joinExternal(groupInfo: Uint8Array): Promise<CommitOut> {
    // core-crypto's GroupInfo takes the bare struct, not the MLSMessage (PROBES.md).
    const gi = new this.cc.GroupInfo(stripMlsMessageHeader(groupInfo, "mls_group_info"));
    let joined: ConversationId | undefined;
    const out = await this.committing(async (ctx) => {
      joined = await ctx.joinByExternalCommit(gi, this.credential);
    });
    this.conversation = joined;
    return out;
  }

  async receive(message: Uint8Array): Promise<Received> {
    const d = await this.tx((ctx) => ctx.decryptMessage(this.conv, message));
    switch (d.tag) {
      case "Text": {
        const sender = new TextDecoder().decode(d.inner.senderClientId.copyBytes());
        return { kind: "application", plaintext: d.inner.plaintext, sender };
      }
      case "Commit":
        return { kind: "commit", removed: !d.inner.isActive };
      case "Proposal":
        return { kind: "proposal" };
    }
  }

  encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
    return this.tx((ctx) => ctx.encryptMessage(this.conv, plaintext));
  }

  async exporter(length: number): Promise<Uint8Array> {
    const key = await this.tx((ctx) => ctx.exportSecretKey(this.conv, length));
    return key.copyBytes();
  }

  epoch(): Promise<bigint> {
    return this.tx((ctx) => ctx.conversationEpoch(this.conv));
  }

  async memberIdentities(): Promise<string[]> {
    const ids = await this.tx((ctx) => ctx.getClientIds(this.conv));
    return ids.map((id) => new TextDecoder().decode(id.copyBytes())).sort();
  }
}

function clientId(cc: CoreCryptoModule, identity: string): ClientId {
  const { user, device, domain } = parseClientId(identity);
  const id = new cc.ClientId(new cc.Uuid(user), new cc.DeviceId(BigInt(`0x${device}`)), domain);
  const bytes = new TextDecoder().decode(id.copyBytes());
  if (bytes !== identity) throw new Error(`core-crypto spells ${identity} as ${bytes}`);
  return id;
}
