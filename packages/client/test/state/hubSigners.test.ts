/**
 * Which hub may sign a hub frame (sender_id 0) a member applies: its home hub, or a hub the
 * group lists as an external sender. In a room across hubs the room's authority is another
 * hub than a member's home, and signs the kicks and notices it sequences (docs/federation.md
 * "Kicks across hubs"); those frames were refused "bad hub signature" on every other hub, so
 * a commit covering an authority's proposal could not be processed there (fed_hubs seed 3
 * with enlisting on: every member homed on b and c diverged).
 */
import { Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { createRoomGroup } from "../../src/mls/group.js";
import { applySequenced } from "../../src/state/apply.js";
import { generateDevice, generateKeyPackages } from "../../src/state/device.js";
import { type ClientEvent, Emitter } from "../../src/state/events.js";
import { Room } from "../../src/state/room.js";
import { buildFrame, parseFrame } from "../../src/state/wire.js";
import { seededRng, suite, wallStartedClock } from "../support/env.js";

const ROOM = 7n;

async function memberOnAnotherHub() {
  const cs = await suite("hubSigners");
  const rng = seededRng("hubSigners");
  const authority = generateDevice("a.example", rng); // the creating hub, listed in the group
  const home = generateDevice("b.example", rng); // the member's own hub, not listed
  const stranger = generateDevice("c.example", rng); // listed nowhere
  const alice = generateDevice("alice@b.example", rng);
  const [kp] = await generateKeyPackages(alice, 1, wallStartedClock(), cs);
  const room = new Room(ROOM);
  room.state = await createRoomGroup(ROOM, kp!, authority.publicKey, cs);
  const events = new Emitter();
  const seen: ClientEvent[] = [];
  events.on((e) => seen.push(e));
  const ctx = { cs, hubPublicKey: home.publicKey, ownSenderId: alice.senderId, events };
  const redaction = (signer: typeof home) =>
    parseFrame(
      buildFrame(
        {
          opcode: Opcode.REDACTION,
          requestId: 0,
          roomId: ROOM,
          senderId: 0n,
          epoch: 0n,
          logIndex: 3n,
          payload: { log_index: 1n },
        },
        signer.signer,
      ),
    );
  return { ctx, room, seen, redaction, authority, home, stranger };
}

describe("hub frames in a room across hubs", () => {
  it("are taken from the home hub and from a hub the group lists, refused from any other", async () => {
    const { ctx, room, seen, redaction, authority, home, stranger } = await memberOnAnotherHub();
    await applySequenced(ctx, room, redaction(authority));
    await applySequenced(ctx, room, redaction(home));
    await applySequenced(ctx, room, redaction(stranger));
    expect(seen.map((e) => e.type)).toEqual(["redaction", "redaction", "rejected"]);
    const refused = seen[2];
    expect(refused?.type === "rejected" && refused.reason).toContain("bad hub signature");
  });
});
