/**
 * Groups interoperate across providers: a group created with one provider is joined via
 * Welcome and used with the other, both ways; exporter secrets agree at every epoch and
 * application messages decrypt.
 */
import {
  type CiphersuiteImpl,
  type ClientState,
  createApplicationMessage,
  createCommit,
  type MLSMessage,
  mlsExporter,
  type PrivateMessage,
} from "ts-mls";
import { describe, expect, it } from "vitest";
import { addMembers, join, newGroup, newMember, receive } from "./mlsFixtures.js";
import { bothImpls, SUITES } from "./providers.js";

function asMls(privateMessage: PrivateMessage): MLSMessage {
  return { version: "mls10", wireformat: "mls_private_message", privateMessage };
}

async function exporter(s: ClientState, cs: CiphersuiteImpl): Promise<Uint8Array> {
  return mlsExporter(s.keySchedule.exporterSecret, "kalandra test", new Uint8Array(), 32, cs);
}

async function scenario(creatorCs: CiphersuiteImpl, otherCs: CiphersuiteImpl) {
  // alice (creator's provider) adds bob (other) and carol (creator's provider).
  const alice = await newMember("alice", creatorCs);
  const bob = await newMember("bob", otherCs);
  const carol = await newMember("carol", creatorCs);
  let a = await newGroup("interop", alice, creatorCs);
  const added = await addMembers(a, [bob, carol], creatorCs);
  a = added.state;
  let b = await join(added.welcome, bob, otherCs);
  let c = await join(added.welcome, carol, creatorCs);
  expect(await exporter(b, otherCs)).toEqual(await exporter(a, creatorCs));

  // bob commits (with an update path) using the other provider; alice and carol process it.
  const commit = await createCommit(
    { state: b, cipherSuite: otherCs },
    { wireAsPublicMessage: true },
  );
  b = commit.newState;
  for (const [name, st, cs] of [
    ["alice", a, creatorCs],
    ["carol", c, creatorCs],
  ] as const) {
    const r = await receive(st, commit.commit, cs);
    expect(r.kind, name).toBe("newState");
    if (r.kind !== "newState") throw new Error("unreachable");
    if (name === "alice") a = r.newState;
    else c = r.newState;
  }
  const eb = await exporter(b, otherCs);
  expect(await exporter(a, creatorCs)).toEqual(eb);
  expect(await exporter(c, creatorCs)).toEqual(eb);

  // alice commits back; bob processes with the other provider.
  const commit2 = await createCommit(
    { state: a, cipherSuite: creatorCs },
    { wireAsPublicMessage: true },
  );
  a = commit2.newState;
  const rb = await receive(b, commit2.commit, otherCs);
  if (rb.kind !== "newState") throw new Error("bob failed to process alice's commit");
  b = rb.newState;
  expect(await exporter(b, otherCs)).toEqual(await exporter(a, creatorCs));

  // Application messages both ways.
  const text = new TextEncoder().encode("hello across providers");
  const m1 = await createApplicationMessage(a, text, creatorCs);
  a = m1.newState;
  const got1 = await receive(b, asMls(m1.privateMessage), otherCs);
  expect(got1.kind).toBe("applicationMessage");
  if (got1.kind === "applicationMessage") {
    expect(got1.message).toEqual(text);
    b = got1.newState;
  }
  const m2 = await createApplicationMessage(b, text, otherCs);
  const got2 = await receive(a, asMls(m2.privateMessage), creatorCs);
  expect(got2.kind).toBe("applicationMessage");
  if (got2.kind === "applicationMessage") expect(got2.message).toEqual(text);
}

describe.each(SUITES)("%s groups interoperate", (suite) => {
  it("created with ours, joined and used with the default provider", async () => {
    const { ours, theirs } = await bothImpls(suite);
    await scenario(ours, theirs);
  });
  it("created with the default provider, joined and used with ours", async () => {
    const { ours, theirs } = await bothImpls(suite);
    await scenario(theirs, ours);
  });
});
