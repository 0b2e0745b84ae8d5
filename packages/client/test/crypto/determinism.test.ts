/**
 * Same seeded Rng, same bytes: every random draw of the provider (HPKE keys and
 * ephemerals, signature keys, ts-mls's own cs.rng draws) comes from the injected Rng,
 * which the simulation harness relies on (DESIGN §8). And the same bytes on both
 * platforms: the browser build of the provider (@noble under `#platform/*`) replays the
 * Node one (node:crypto) byte for byte.
 */
import { createCommit, encodeMlsMessage, mlsExporter } from "ts-mls";
import { describe, expect, it } from "vitest";
import * as nodeCrypto from "../../src/crypto/index.js";
import { importWebBuild } from "../support/webBuild.js";
import { addMembers, join, newGroup, newMember, receive, seededRng } from "./mlsFixtures.js";
import { SUITES } from "./providers.js";

type CryptoModule = typeof nodeCrypto;

async function run(
  seed: string,
  suite: (typeof SUITES)[number],
  { getKalandraCiphersuiteImpl }: CryptoModule = nodeCrypto,
) {
  const cs = getKalandraCiphersuiteImpl(seededRng(seed), suite);
  const alice = await newMember("alice", cs);
  const bob = await newMember("bob", cs);
  const carol = await newMember("carol", cs);
  let a = await newGroup("determinism", alice, cs);
  const added = await addMembers(a, [bob, carol], cs);
  a = added.state;
  let b = await join(added.welcome, bob, cs);
  const update = await createCommit({ state: b, cipherSuite: cs }, { wireAsPublicMessage: true });
  b = update.newState;
  const processed = await receive(a, update.commit, cs);
  if (processed.kind !== "newState") throw new Error("commit not processed");
  const kp = (m: typeof alice) =>
    encodeMlsMessage({
      version: "mls10",
      wireformat: "mls_key_package",
      keyPackage: m.publicPackage,
    });
  return {
    keyPackages: [kp(alice), kp(bob), kp(carol)],
    addCommit: encodeMlsMessage(added.commit),
    welcome: encodeMlsMessage({
      version: "mls10",
      wireformat: "mls_welcome",
      welcome: added.welcome,
    }),
    updateCommit: encodeMlsMessage(update.commit),
    exporter: await mlsExporter(b.keySchedule.exporterSecret, "x", new Uint8Array(), 32, cs),
  };
}

describe.each(SUITES)("%s with a seeded Rng", (suite) => {
  it("two runs produce byte-identical key packages, commits and welcomes", async () => {
    const first = await run("seed-1", suite);
    const second = await run("seed-1", suite);
    expect(second).toEqual(first);
    const other = await run("seed-2", suite);
    expect(other.keyPackages[0]).not.toEqual(first.keyPackages[0]);
    expect(other.updateCommit).not.toEqual(first.updateCommit);
  });

  it("the browser build replays the Node provider byte for byte", async () => {
    const web = await importWebBuild<CryptoModule>("src/crypto/index.ts");
    expect(web.getKalandraCiphersuiteImpl).not.toBe(nodeCrypto.getKalandraCiphersuiteImpl);
    expect(await run("seed-3", suite, web)).toEqual(await run("seed-3", suite));
  });
});
