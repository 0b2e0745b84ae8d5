/**
 * Credentials bound to identity (identity/leafBinding.ts, DESIGN §10): the hub core refuses
 * an Add whose key package's credential does not name the registered owner of its key (a
 * ghost key, another user's name, a revoked device), in a COMMIT and in a PROPOSAL, and an
 * external commit whose leaf is not the session's device and user; each refusal audited.
 */
import { Opcode } from "@kalandra/proto";
import { defaultCapabilities, defaultLifetime, generateKeyPackageWithKey } from "ts-mls";
import { describe, expect, it } from "vitest";
import {
  type Client,
  type Env,
  errorName,
  frameOf,
  makeClient,
  registerDevice,
  send,
  sendCommit,
} from "../hub/harness.js";
import { commit, device, externalJoin, memberProposal } from "../mls/mlsClients.js";
import { roomWith } from "../sequencer/room.js";

async function addBy(
  env: Env,
  member: Client,
  roomId: bigint,
  d: Awaited<ReturnType<typeof device>>,
) {
  const c = await commit(env.cs, member.state!, [
    { proposalType: "add", add: { keyPackage: d.publicPackage } },
  ]);
  return { answer: await sendCommit(env, member, roomId, member.state!.groupContext.epoch, c), c };
}

const refusals = (env: Env) =>
  env.storage.readAudit().filter((r) => r.kind === "credential_refused");

describe("credentials bound to identity", () => {
  it("refuses Adds of a ghost key, of a key under another user's name, of a revoked device", async () => {
    const { env, members, roomId } = await roomWith(["alice"]);
    const alice = members[0]!;
    const ghost = await device(env.cs, "alice"); // never authenticated by the hub
    expect(errorName((await addBy(env, alice, roomId, ghost)).answer)).toBe("CREDENTIAL_MISMATCH");
    const bobsKey = await device(env.cs, "mallory");
    await registerDevice(env, bobsKey, "bob");
    expect(errorName((await addBy(env, alice, roomId, bobsKey)).answer)).toBe(
      "CREDENTIAL_MISMATCH",
    );
    const revoked = await makeClient(env, "carol", false);
    await env.storage.revokeDevice(revoked.senderId, 1n);
    expect(errorName((await addBy(env, alice, roomId, revoked.device)).answer)).toBe(
      "CREDENTIAL_MISMATCH",
    );
    // As a standalone proposal too.
    const p = await memberProposal(env.cs, alice.state!, {
      proposalType: "add",
      add: { keyPackage: ghost.publicPackage },
    });
    const proposed = await send(
      env,
      alice,
      frameOf(alice, Opcode.PROPOSAL, roomId, alice.state!.groupContext.epoch, {
        message: p.bytes,
      }),
    );
    expect(errorName(proposed)).toBe("CREDENTIAL_MISMATCH");
    expect(refusals(env).map((r) => r.actor)).toEqual(Array(4).fill("user:alice"));
    // A registered device under its own name is added.
    const dave = await makeClient(env, "dave", false);
    const ok = await addBy(env, alice, roomId, dave.device);
    expect(ok.answer.opcode).toBe(Opcode.ACK);
  });

  it("refuses an external commit whose leaf is not the session's device and user", async () => {
    const { env, members, roomId } = await roomWith(["alice"]);
    const alice = members[0]!;
    const epoch = alice.state!.groupContext.epoch;
    // eve's session presents a leaf with her own key under alice's name.
    const eve = await makeClient(env, "eve");
    const asAlice = await generateKeyPackageWithKey(
      { credentialType: "basic", identity: new TextEncoder().encode("alice") },
      defaultCapabilities(),
      defaultLifetime,
      [],
      {
        signKey: eve.device.privatePackage.signaturePrivateKey,
        publicKey: eve.signer.publicKey,
      },
      env.cs,
    );
    const j = await externalJoin(env.cs, { name: "alice", ...asAlice }, alice.state!);
    const refused = await send(
      env,
      eve,
      frameOf(eve, Opcode.EXTERNAL_COMMIT, roomId, epoch, {
        commit: j.commit,
        group_info: j.groupInfo,
      }),
    );
    expect(errorName(refused)).toBe("CREDENTIAL_MISMATCH");
    const own = await externalJoin(env.cs, eve.device, alice.state!);
    const joined = await send(
      env,
      eve,
      frameOf(eve, Opcode.EXTERNAL_COMMIT, roomId, epoch, {
        commit: own.commit,
        group_info: own.groupInfo,
      }),
    );
    expect(joined.opcode).toBe(Opcode.ACK);
    expect(refusals(env)).toHaveLength(1);
  });
});
