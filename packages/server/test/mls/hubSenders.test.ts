/**
 * The one GroupContextExtensions change the hub accepts (src/mls/hubSenders.ts): a listed
 * hub appending other hubs to external_senders, committed by reference. Real ts-mls members;
 * the hub's public view checks proposals and commits, and the members agree with it.
 */
import { createDeviceSigner } from "@kalandra/proto";
import { type Extension, encodeExternalSenders, encodeMlsMessage, proposeExternal } from "ts-mls";
import { externalSendersOf } from "ts-mls/externalSender.js";
import { describe, expect, it } from "vitest";
import { checkEnlisting, MAX_EXTERNAL_SENDERS, withHubSenders } from "../../src/mls/hubSenders.js";
import { PublicGroup } from "../../src/mls/publicGroup.js";
import { commit, groupInfoOf, memberProposal, process, roomOfThree } from "./mlsClients.js";

const keyOf = (n: number) => createDeviceSigner(new Uint8Array(32).fill(n)).publicKey;
const hex = (k: Uint8Array) => Buffer.from(k).toString("hex");

function sendersHex(extensions: readonly Extension[]): string[] {
  return (externalSendersOf([...extensions]) ?? []).map((s) => hex(s.signaturePublicKey));
}

describe("enlisting hubs as external senders", () => {
  it("a listed hub's proposal appending two hubs: checked, committed by a member, agreed by all", async () => {
    const { cs, hub, room, a1, b1 } = await roomOfThree();
    const gi = await groupInfoOf(cs, a1);
    const extensions = withHubSenders(gi.groupContext.extensions, [
      keyOf(2),
      hub.publicKey,
      keyOf(3),
    ]);
    expect(extensions).toBeDefined();
    const msg = await proposeExternal(
      gi,
      {
        proposalType: "group_context_extensions",
        groupContextExtensions: { extensions: extensions! },
      },
      hub.publicKey,
      hub.signKey,
      cs,
    );
    const bytes = encodeMlsMessage(msg);
    const pc = room.checkProposal(bytes);
    expect(pc).toMatchObject({ ok: true, proposal: { type: "extensions", externalSender: 0 } });
    if (!pc.ok) return;
    // Bob commits it (with an UpdatePath: RFC 9420 §17.4); the hub's view follows.
    const c = await commit(cs, await process(cs, b1, msg));
    expect(c.commitMessage.wireformat).toBe("mls_public_message");
    const r = room.checkCommit(c.commit, c.groupInfo, [pc.ref], [bytes]);
    if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
    const listed = [hub.publicKey, keyOf(2), keyOf(3)].map(hex);
    expect(r.next.externalSenders().map(hex)).toEqual(listed);
    // Alice processes the same commit to the same GroupContext; a fresh view agrees.
    const alice = await process(cs, await process(cs, a1, msg), c.commitMessage);
    expect(sendersHex(alice.groupContext.extensions)).toEqual(listed);
    expect(alice.groupContext.epoch).toBe(2n);
    const fresh = PublicGroup.fromGroupInfo(c.groupInfo, keyOf(3));
    expect(fresh.externalSenders().map(hex)).toEqual(listed);
    // Leaving the pending proposal out of a commit is MISSING_PROPOSALS, as for a kick.
    const other = await commit(cs, b1);
    expect(room.checkCommit(other.commit, other.groupInfo, [pc.ref], [bytes])).toMatchObject({
      ok: false,
      code: "MISSING_PROPOSALS",
    });
    // Nothing left to enlist once all are listed.
    expect(withHubSenders(alice.groupContext.extensions, [keyOf(3), keyOf(2)])).toBeUndefined();
  });

  it("refuses the change from a member, and any change but appending hubs", async () => {
    const { cs, hub, room, a1 } = await roomOfThree();
    const gi = await groupInfoOf(cs, a1);
    const current = gi.groupContext.extensions;
    const enlisting = withHubSenders(current, [keyOf(2)])!;
    // A member may not propose it, however valid the list.
    const byMember = await memberProposal(cs, a1, {
      proposalType: "group_context_extensions",
      groupContextExtensions: { extensions: enlisting },
    });
    expect(room.checkProposal(byMember.bytes)).toMatchObject({
      ok: false,
      code: "INVALID_PROPOSAL",
    });
    // The hub may not drop itself, reorder, add nothing, or touch another extension.
    const senders = (keys: Uint8Array[]): Extension => ({
      extensionType: "external_senders",
      extensionData: encodeExternalSenders(
        keys.map((k) => ({
          signaturePublicKey: k,
          credential: {
            credentialType: "basic",
            identity: new TextEncoder().encode("kalandra-hub"),
          },
        })),
      ),
    });
    const bad: Extension[][] = [
      [senders([keyOf(2)])],
      [senders([keyOf(2), hub.publicKey])],
      [senders([hub.publicKey])],
      [senders([hub.publicKey, keyOf(2), keyOf(2)])],
      [...enlisting, { extensionType: 0xff0a, extensionData: new Uint8Array([1]) } as Extension],
      [
        senders([
          hub.publicKey,
          ...Array.from({ length: MAX_EXTERNAL_SENDERS }, (_, i) => keyOf(i + 20)),
        ]),
      ],
    ];
    for (const extensions of bad) {
      expect(() => checkEnlisting(current, extensions, "INVALID_PROPOSAL")).toThrow();
      const msg = await proposeExternal(
        gi,
        { proposalType: "group_context_extensions", groupContextExtensions: { extensions } },
        hub.publicKey,
        hub.signKey,
        cs,
      );
      expect(room.checkProposal(encodeMlsMessage(msg))).toMatchObject({
        ok: false,
        code: "INVALID_PROPOSAL",
      });
    }
    expect(checkEnlisting(current, enlisting, "INVALID_PROPOSAL").map(hex)).toEqual([
      hex(keyOf(2)),
    ]);
  });
});
