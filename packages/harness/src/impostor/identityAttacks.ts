/**
 * Attacks on identity (issue 12, DESIGN §10): a device that claims another user, key
 * packages whose credential names another user, a member adding a ghost device under
 * another user's name. The hub must refuse each; only a device bound to a user may hold a
 * leaf under that user's name (leaf_owner), and the named user still joins alone.
 */
import { Opcode } from "@kalandra/proto";
import {
  forgeAddCommit,
  forgeKeyPackage,
  keyPackageMessage,
  ownDeviceState,
  RawDevice,
} from "../attacker.js";
import type { SeededRng } from "../rng.js";
import type { Scenario, ScenarioRun } from "../scenario.js";
import { addAndWait, roomWith } from "../workload.js";
import { addLater, chat, count, expectMember, failure, MALLORY } from "./steps.js";

const HONEST = ["u0", "u1", "u2"];

/**
 * What the scenarios here share: four users (u3 joins during the chaos), 20 s of chaos, a
 * lossy network and honest devices crashing (not u0, which adds, nor u3).
 */
const BASE = {
  clients: 4,
  chaosMs: 20_000,
  convergeMs: 40_000,
  plan: {
    kinds: ["network", "clientCrash"],
    maxLoss: 0.2,
    protect: [0, 3],
    maxEvents: 2,
    maxSkewMs: 1000,
  },
} satisfies Partial<Scenario>;

/**
 * Forged key packages: mallory authenticates as herself and uploads key packages whose
 * credential names u3 (signed by her key, and by a key no session holds) and one naming
 * herself signed by a ghost key; the hub refuses each (SENDER_MISMATCH). u0 then adds u3
 * (during setup: a Welcome lost on the way is not delivered again until the Welcome inbox
 * exists), and only u3's own device gets a leaf under u3's name. In the chaos mallory
 * uploads them again and u0 tries to add mallory, who has no acceptable key package.
 */
export const impostorKp: Scenario = {
  name: "impostor_kp",
  description:
    "an attacker uploads key packages naming another user or signed by a ghost key: refused; the named user joins alone",
  ...BASE,
  async setup(r) {
    await roomWith(r, ["u1", "u2"]);
    const { w } = r;
    const rng = r.rng.fork(MALLORY);
    const mallorySeed = rng.bytes(32);
    const ghostSeed = rng.bytes(32);
    const mallory = new RawDevice(w, MALLORY, MALLORY, mallorySeed);
    const ok = await w.perform("mallory authenticates", () => mallory.authenticate(MALLORY));
    if (!ok.ok) throw new Error(`mallory could not authenticate as herself: ${ok.error}`);
    const now = w.now / 1000n;
    const forgeries: [string, string, Uint8Array][] = [
      ["u3 signed by mallory's key", "u3", mallorySeed],
      ["u3 signed by a ghost key", "u3", ghostSeed],
      ["mallory signed by a ghost key", MALLORY, ghostSeed],
    ];
    const forged: [string, Uint8Array][] = [];
    for (const [what, user, seed] of forgeries) {
      forged.push([what, keyPackageMessage(await forgeKeyPackage(rng, user, seed, now))]);
    }
    const upload = () =>
      Promise.all(
        forged.map(async ([what, kp]) => {
          r.notes.forged = (r.notes.forged ?? 0) + 1;
          const a = await mallory.request(Opcode.KP_UPLOAD, 0n, 0n, {
            key_packages: [kp],
            last_resort: false,
          });
          if (a.ok) w.violation("forgery_refused", `the hub accepted a key package naming ${what}`);
          else count(r, a.error === "SENDER_MISMATCH" ? "refused" : `refused ${a.error}`);
        }),
      );
    await w.perform("mallory uploads forged key packages", upload);
    await addAndWait(r, ["u3"]);
    // In the chaos phase (which starts now), under the seed's faults.
    w.at(1000, "mallory uploads forged key packages again", () => void upload());
  },
  workload(r) {
    addLater(r, "u0", [MALLORY], 6000);
    chat(r, [...HONEST, "u3"], 16_000);
  },
  check(r) {
    if ((r.notes.refused ?? 0) !== r.notes.forged) {
      r.w.violation(
        "forgery_refused",
        `${r.notes.refused ?? 0} of ${r.notes.forged} forged key packages refused SENDER_MISMATCH`,
      );
    }
    expectMember(r, "u3", true, "named_user_joined");
  },
};

/**
 * An impostor device: mallory's device says it is u3 in HELLO (and, once in, would upload
 * key packages as u3, so that adding u3 adds her device too). The hub's authenticator
 * refuses the claim (session_owner); u0 adds u3, whose own device alone joins (leaf_owner).
 */
export const impostorHello: Scenario = {
  name: "impostor_hello",
  description:
    "a device of the attacker claims another user's id in HELLO: refused; adding that user adds only its own devices",
  ...BASE,
  async setup(r) {
    const { w } = r;
    await roomWith(r, ["u1", "u2"]);
    w.addAttacker("m0", MALLORY, "u3");
    await w.perform("m0 connects as u3", () => impostorConnects(r));
    // Had it got in, its key packages as u3 would be uploaded by now.
    await w.runFor(2000);
    await addAndWait(r, ["u3"]);
  },
  workload(r) {
    // It tries again in the chaos phase, under the seed's faults.
    r.w.at(1000, "m0 connects as u3 again", () => void impostorConnects(r));
    chat(r, [...HONEST, "u3"], 16_000);
  },
  check(r) {
    if ((r.notes["impostor authenticated"] ?? 0) > 0) {
      r.w.violation("impostor_refused", "the hub let m0 (mallory's device) in as u3");
    }
    expectMember(r, "u3", true, "named_user_joined");
  },
};

/** m0 (mallory's device claiming u3) connects; the outcome goes to the notes. */
function impostorConnects(r: ScenarioRun): Promise<void> {
  return r.w.connectAttacker("m0").then(
    () => count(r, "impostor authenticated"),
    (e: unknown) => count(r, `impostor refused ${failure(e)}`),
  );
}

/**
 * A malicious member adds a ghost device: mallory, a member of the room, builds a commit
 * outside her client (from the MLS state on her own disk) that adds a key package naming
 * u1 for a key nobody authenticated, and sends it signed by her device key. The hub must
 * refuse the Add (the credential does not name the key's authenticated owner).
 */
export const ghostAdd: Scenario = {
  name: "ghost_add",
  description:
    "a member commits an Add of a ghost device under another member's name: refused; the room goes on",
  ...BASE,
  clients: 3,
  plan: { ...BASE.plan, protect: [0] },
  async setup(r) {
    const { w } = r;
    await roomWith(r, ["u1", "u2"]);
    w.addAttacker("m0", MALLORY);
    await w.perform("m0 connects", () => w.connectAttacker("m0"));
    w.access.admit(r.room, [MALLORY]);
    await w.perform("u0 adds mallory", () => w.api("u0").addMembers(r.room, [MALLORY]));
    await w.runFor(30_000, () => w.attackers.get("m0")?.client?.room(r.room) !== undefined);
  },
  workload(r) {
    const { w } = r;
    const rng = r.rng.fork("ghost");
    const ghostSeed = rng.bytes(32);
    // Three tries: one may lose the race with an honest commit of the same epoch.
    for (const at of [2000, 7000, 12_000]) {
      w.at(at, "mallory commits a ghost Add", () => {
        if (r.notes["ghost added"] !== undefined) return;
        ghostCommit(r, rng, ghostSeed, `m0-raw-${at}`).then(
          (outcome) => count(r, outcome),
          (e: unknown) => count(r, `ghost not built: ${e instanceof Error ? e.name : "error"}`),
        );
      });
    }
    chat(r, HONEST, 16_000);
  },
  check(r) {
    const refused = Object.keys(r.notes).some((k) => k.startsWith("ghost refused"));
    if (r.notes["ghost added"] !== undefined || !refused) {
      r.w.violation("ghost_refused", `no ghost Add refused (${JSON.stringify(r.notes)})`);
    }
  },
};

/** mallory's forged commit (see ghostAdd), sent on a session of her own device key. */
async function ghostCommit(
  r: ScenarioRun,
  rng: SeededRng,
  ghostSeed: Uint8Array,
  node: string,
): Promise<string> {
  const { w } = r;
  const m0 = w.attackers.get("m0");
  const own = m0 === undefined ? undefined : await ownDeviceState(m0.store, r.room);
  if (own === undefined) return "no state";
  const ghost = await forgeKeyPackage(rng, "u1", ghostSeed, w.now / 1000n);
  const { epoch, payload } = await forgeAddCommit(rng, own.state, ghost);
  const raw = new RawDevice(w, node, undefined, own.seed);
  const auth = await raw.authenticate(MALLORY);
  if (!auth.ok) return `raw session refused ${auth.error}`;
  const a = await raw.request(Opcode.COMMIT, r.room, epoch, payload);
  return a.ok ? "ghost added" : `ghost refused ${a.error}`;
}
