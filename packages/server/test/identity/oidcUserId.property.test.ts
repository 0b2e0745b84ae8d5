/**
 * The rule that turns a verified token's claim into a user id (`userIdOf`), over arbitrary
 * claim values: an accepted id is always one printable name at this hub's domain, a name
 * without a domain keeps its spelling, and a foreign domain is never accepted.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_OIDC_NAME_LENGTH, userIdOf } from "../../src/identity/oidc.js";

const domain = "hub.example";
const opts = { userClaim: "sub", domain };
const NAME = /^[^\p{C}\p{Z}@]+$/u;

describe("userIdOf", () => {
  it("accepts only one printable name at this hub's domain", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.emailAddress()),
        (sub) => {
          const v = userIdOf({ sub }, opts);
          if (!v.ok) return;
          const [name, ...rest] = v.userId.split("@");
          expect(rest).toEqual([domain]);
          expect(name).toMatch(NAME);
          expect((name as string).length).toBeLessThanOrEqual(MAX_OIDC_NAME_LENGTH);
        },
      ),
    );
  });

  it("keeps a plain name as it is, and takes name@<this domain> in any case", () => {
    const plain = fc.stringMatching(/^[a-zA-Z0-9._-]{1,40}$/);
    fc.assert(
      fc.property(plain, fc.boolean(), (name, upper) => {
        expect(userIdOf({ sub: name }, opts)).toEqual({ ok: true, userId: `${name}@${domain}` });
        const d = upper ? domain.toUpperCase() : domain;
        expect(userIdOf({ sub: `${name}@${d}` }, opts)).toEqual({
          ok: true,
          userId: `${name}@${domain}`,
        });
      }),
    );
  });

  it("never accepts another domain", () => {
    fc.assert(
      fc.property(fc.emailAddress(), (email) => {
        fc.pre(!email.toLowerCase().endsWith(`@${domain}`));
        expect(userIdOf({ sub: email }, opts)).toMatchObject({ ok: false, reason: "domain" });
      }),
    );
  });

  it("refuses names that are not one printable word, and non-string claims", () => {
    for (const sub of [
      "",
      " ",
      "a b",
      "a\u0000b",
      "a\u200bb",
      "x".repeat(129),
      "a@b@hub.example",
    ]) {
      expect(userIdOf({ sub }, opts), JSON.stringify(sub)).toMatchObject({ ok: false });
    }
    for (const sub of [7, null, ["alice"], { name: "alice" }]) {
      expect(userIdOf({ sub } as never, opts)).toMatchObject({ ok: false, reason: "claim" });
    }
  });
});
