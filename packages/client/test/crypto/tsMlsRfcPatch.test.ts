/**
 * The RFC 9420 fixes in the ts-mls patch (issue 13, docs/mls-interop.md): the
 * `external_senders` list (§12.1.8.1) and the `external_pub` HPKEPublicKey<V> (§12.4.3.2),
 * as codecs (properties) and against data written by ts-mls 1.6.4 as published: a room
 * created before the fix (one bare ExternalSender in its GroupContext, for its whole life)
 * and a GroupInfo published before it (a bare 32-byte external_pub) must keep working.
 */
import fc from "fast-check";
import type { CiphersuiteImpl, ClientState, Credential } from "ts-mls";
import * as patched from "ts-mls";
import { decodeExternalPub, encodeExternalPub } from "ts-mls/createCommit.js";
import {
  decodeExternalSenders,
  type ExternalSender,
  encodeExternalSender,
  encodeExternalSenders,
  externalSendersFromExtension,
} from "ts-mls/externalSender.js";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUpstreamTsMls } from "../../../../tools/bench/_tsMlsUpstream.js";
import { getKalandraCiphersuiteImpl } from "../../src/crypto/index.js";
import { fixedCapabilities } from "./mlsFixtures.js";

type TsMls = typeof patched;
const enc = new TextEncoder();
const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const sender: fc.Arbitrary<ExternalSender> = fc.record({
  signaturePublicKey: bytes(0, 80),
  credential: fc.record({
    credentialType: fc.constant("basic" as const),
    identity: bytes(0, 70),
  }) as fc.Arbitrary<Credential>,
});

/** The RFC's variable-length vector header (RFC 9420 §2.1.2) for `n` bytes. */
function varint(n: number): number[] {
  if (n < 64) return [n];
  if (n < 16384) return [0x40 | (n >> 8), n & 0xff];
  return [0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

describe("external_senders codec (RFC 9420 §12.1.8.1)", () => {
  it("writes ExternalSender external_senders<V> and reads it back", () => {
    fc.assert(
      fc.property(fc.array(sender, { maxLength: 5 }), (list) => {
        const data = encodeExternalSenders(list);
        const items = list.flatMap((s) => [...encodeExternalSender(s)]);
        expect([...data]).toEqual([...varint(items.length), ...items]);
        expect(decodeExternalSenders(data, 0)?.[0]).toEqual(list);
        expect(externalSendersFromExtension(data)).toEqual(list);
      }),
    );
  });

  it("reads the bare ExternalSender of rooms created before the fix as a one-entry list", () => {
    fc.assert(
      fc.property(sender, (s) => {
        expect(externalSendersFromExtension(encodeExternalSender(s))).toEqual([s]);
      }),
    );
  });

  it("refuses truncated or padded extension data", () => {
    fc.assert(
      fc.property(fc.array(sender, { minLength: 1, maxLength: 3 }), fc.nat(), (list, cut) => {
        const data = encodeExternalSenders(list);
        const short = data.subarray(0, cut % data.length);
        if (short.length > 0) {
          const read = externalSendersFromExtension(short);
          // A prefix may happen to be a shorter valid encoding; it is never the whole list.
          if (read !== undefined) expect(read).not.toEqual(list);
        }
        expect(externalSendersFromExtension(new Uint8Array([...data, 0]))).toBeUndefined();
      }),
    );
  });
});

describe("external_pub codec (RFC 9420 §12.4.3.2)", () => {
  it("writes HPKEPublicKey external_pub as opaque<V>: 33 bytes for X25519", () => {
    const key = new Uint8Array(32).fill(9);
    expect([...encodeExternalPub(key)]).toEqual([32, ...key]);
    expect(decodeExternalPub(encodeExternalPub(key))).toEqual(key);
  });

  it("round-trips keys of every length but 31 (whose encoding is the legacy form's 32 bytes)", () => {
    fc.assert(
      fc.property(bytes(0, 200), (key) => {
        fc.pre(key.length !== 31);
        expect(decodeExternalPub(encodeExternalPub(key))).toEqual(key);
        expect(decodeExternalPub(new Uint8Array([...encodeExternalPub(key), 0]))).toBeUndefined();
      }),
    );
  });

  it("reads the bare 32-byte key of GroupInfos published before the fix", () => {
    fc.assert(
      fc.property(bytes(32, 32), (key) => {
        expect(decodeExternalPub(key)).toEqual(key);
      }),
    );
  });
});

describe("rooms and GroupInfos written by ts-mls 1.6.4 as published", () => {
  let upstream: { lib: TsMls; cs: CiphersuiteImpl };
  let cs: CiphersuiteImpl;
  beforeAll(async () => {
    const lib = await loadUpstreamTsMls();
    upstream = {
      lib,
      cs: await lib.getCiphersuiteImpl(
        lib.getCiphersuiteFromName(SUITE),
        lib.defaultCryptoProvider,
      ),
    };
    cs = getKalandraCiphersuiteImpl();
  });

  const keyPackage = (lib: TsMls, c: CiphersuiteImpl, name: string) =>
    lib.generateKeyPackage(
      { credentialType: "basic", identity: enc.encode(name) },
      fixedCapabilities,
      lib.defaultLifetime,
      [],
      c,
    );

  it("a legacy room (bare ExternalSender, bare external_pub): Welcome join, external join, hub removal", async () => {
    const { lib } = upstream;
    const hub = await cs.signature.keygen();
    const legacySender = lib.encodeExternalSender({
      signaturePublicKey: hub.publicKey,
      credential: { credentialType: "basic", identity: enc.encode("kalandra-hub") },
    });
    const alice = await keyPackage(lib, upstream.cs, "alice");
    const bob = await keyPackage(patched, cs, "bob");
    const carol = await keyPackage(patched, cs, "carol");
    let a: ClientState = await lib.createGroup(
      enc.encode("legacy"),
      alice.publicPackage,
      alice.privatePackage,
      [{ extensionType: "external_senders", extensionData: legacySender }],
      upstream.cs,
    );
    const added = await lib.createCommit(
      { state: a, cipherSuite: upstream.cs },
      {
        wireAsPublicMessage: true,
        ratchetTreeExtension: true,
        extraProposals: [{ proposalType: "add", add: { keyPackage: bob.publicPackage } }],
      },
    );
    a = added.newState;
    // Welcome join with the patched ts-mls: the legacy external_senders is accepted.
    let b = await patched.joinGroup(
      added.welcome!,
      bob.publicPackage,
      bob.privatePackage,
      patched.emptyPskIndex,
      cs,
    );
    expect(b.groupContext.extensions[0]?.extensionData).toEqual(legacySender);

    // External join from a GroupInfo carrying the bare 32-byte external_pub.
    const legacyGi = await lib.createGroupInfoWithExternalPubAndRatchetTree(a, [], upstream.cs);
    expect(
      legacyGi.extensions.find((e) => e.extensionType === "external_pub")?.extensionData,
    ).toHaveLength(32);
    const ext = await patched.joinGroupExternal(
      legacyGi,
      carol.publicPackage,
      carol.privatePackage,
      false,
      cs,
    );
    let c = ext.newState;
    const extMsg = {
      version: "mls10" as const,
      wireformat: "mls_public_message" as const,
      publicMessage: ext.publicMessage,
    };
    a = (await lib.processMessage(extMsg, a, lib.emptyPskIndex, lib.acceptAll, upstream.cs))
      .newState;
    b = (await patched.processMessage(extMsg, b, patched.emptyPskIndex, patched.acceptAll, cs))
      .newState;
    expect(b.groupContext.treeHash).toEqual(a.groupContext.treeHash);
    expect(c.groupContext.treeHash).toEqual(a.groupContext.treeHash);

    // The hub, as external sender 0 of the legacy list, removes carol; bob commits it.
    const kick = await patched.proposeExternal(
      await patched.createGroupInfoWithExternalPubAndRatchetTree(b, [], cs),
      { proposalType: "remove", remove: { removed: 2 } },
      hub.publicKey,
      hub.signKey,
      cs,
    );
    if (kick.wireformat !== "mls_public_message") throw new Error("a PublicMessage proposal");
    expect(kick.publicMessage.content.sender).toEqual({
      senderType: "external",
      senderIndex: 0,
    });
    a = (await lib.processMessage(kick, a, lib.emptyPskIndex, lib.acceptAll, upstream.cs)).newState;
    b = (await patched.processMessage(kick, b, patched.emptyPskIndex, patched.acceptAll, cs))
      .newState;
    c = (await patched.processMessage(kick, c, patched.emptyPskIndex, patched.acceptAll, cs))
      .newState;
    const removal = await patched.createCommit(
      { state: b, cipherSuite: cs },
      { wireAsPublicMessage: true },
    );
    const commit = removal.commit;
    if (commit.wireformat !== "mls_public_message") throw new Error("a PublicMessage commit");
    a = (await lib.processMessage(commit, a, lib.emptyPskIndex, lib.acceptAll, upstream.cs))
      .newState;
    c = (await patched.processMessage(commit, c, patched.emptyPskIndex, patched.acceptAll, cs))
      .newState;
    expect(c.groupActiveState.kind).toBe("removedFromGroup");
    expect(a.groupContext.treeHash).toEqual(removal.newState.groupContext.treeHash);
  });
});
