/**
 * Issue 12, "Anyone is a moderator" under OpenID Connect: a kalandrad with
 * `auth.methods = ["oidc"]` pinned to a real OpenID provider (oidc-provider on loopback).
 * The session's user is the one a valid token names, whatever HELLO's `user_id` claims;
 * a forged, expired or misdirected token is refused AUTH_FAILED and the session closed;
 * the token is checked once, at HELLO, so a session outlives its token. A bystander
 * session keeps working throughout. (Before the change every HELLO below got AUTH_OK as
 * the user it claimed.)
 */
import { decodeErrorPayload, decodePayload, type Frame, Opcode } from "@kalandra/proto";
import {
  generateSigningJwk,
  type SigningJwk,
  startOidcProvider,
  type TestOidcProvider,
} from "@kalandra/test-support/oidc";
import { importJWK, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorName, pingOk, RawSession, type SecurityHub, startHub } from "./hub.js";

const enc = new TextEncoder();
let op: TestOidcProvider;
let hub: SecurityHub;
let bystander: RawSession;

const oidc = (token: string) => ({ auth: { method: "oidc", credential: enc.encode(token) } });
const nowS = () => Math.floor(Date.now() / 1000);

/** A token the test signs itself: with the issuer's own key, or a stranger's. */
async function signed(payload: JWTPayload, key?: SigningJwk): Promise<string> {
  const k = key ?? (op.privateJwks().keys[0] as SigningJwk);
  return new SignJWT({ iss: op.issuer, aud: op.clientId, iat: nowS(), ...payload })
    .setProtectedHeader({ alg: k.alg, kid: k.kid })
    .sign(await importJWK(k, k.alg));
}

/** HELLO with `token` claiming `claimed`; the hub's answer to it (AUTH_CHALLENGE or ERROR). */
async function helloWith(
  claimed: string,
  token: string,
): Promise<{ s: RawSession; error?: Frame }> {
  const s = await RawSession.connect(hub);
  try {
    await s.authenticate(claimed, oidc(token));
    return { s };
  } catch {
    const error = s.frames.find((f) => errorName(f) !== undefined);
    return error === undefined ? { s } : { s, error };
  }
}

beforeAll(async () => {
  op = await startOidcProvider();
  hub = await startHub({
    env: {
      KALANDRA_AUTH__METHODS: "oidc",
      KALANDRA_AUTH__OIDC_ISSUER: op.issuer,
      KALANDRA_AUTH__OIDC_AUDIENCE: op.clientId,
      KALANDRA_AUTH__OIDC_JWKS_URL: op.jwksUrl,
      KALANDRA_AUTH__OIDC_CLOCK_SKEW_S: "0",
    },
  });
  bystander = await RawSession.open(hub, "bystander", { hello: oidc(await op.login("bystander")) });
});
afterAll(async () => {
  bystander?.close();
  await hub?.stop();
  await op?.close();
});

describe("kalandrad with auth.methods = [oidc]", () => {
  it("authenticates the token's user, whatever HELLO's user_id claims", async () => {
    const token = await op.login("alice");
    const s = await RawSession.connect(hub);
    const ok = await s.authenticate("mod", oidc(token));
    expect(decodePayload(Opcode.AUTH_OK, ok.payload).user_id).toBe("alice@localhost");
    await pingOk(s);
    s.close();
    await pingOk(bystander);
  });

  it("refuses a HELLO without a token: naming oneself grants nothing", async () => {
    const s = await RawSession.connect(hub);
    await expect(s.authenticate("mod")).rejects.toThrow();
    const error = s.frames.find((f) => errorName(f) !== undefined);
    expect(error && errorName(error)).toBe("AUTH_FAILED");
    await pingOk(bystander);
  });

  it("refuses forged, expired and misdirected tokens with AUTH_FAILED", async () => {
    const cases: [string, Promise<string>, RegExp][] = [
      [
        "a stranger's key",
        signed({ sub: "alice", exp: nowS() + 300 }, generateSigningJwk()),
        /no key of the issuer/,
      ],
      [
        "the issuer's kid, a stranger's key",
        signed(
          { sub: "alice", exp: nowS() + 300 },
          { ...generateSigningJwk(), kid: op.privateJwks().keys[0]?.kid as string },
        ),
        /signature/,
      ],
      ["expired", signed({ sub: "alice", exp: nowS() - 5 }), /expired/],
      ["another audience", op.login("alice", op.otherClientId), /audience/],
      [
        "another issuer",
        signed({ sub: "alice", exp: nowS() + 300, iss: `${op.issuer}/evil` }),
        /issuer/,
      ],
    ];
    for (const [what, token, why] of cases) {
      const { s, error } = await helloWith("alice", await token);
      expect(error && errorName(error), what).toBe("AUTH_FAILED");
      expect(error && decodeErrorMessage(error), what).toMatch(why);
      await s.waitClosed();
    }
    await pingOk(bystander);
  });

  it("a device bound by a token shows a fresh one on every session, not its key alone", async () => {
    const first = await RawSession.connect(hub);
    await first.authenticate("dora", oidc(await op.login("dora")));
    first.close();
    await first.waitClosed();
    // The same device key, bound to dora@localhost, without a token: refused.
    const keyOnly = await RawSession.connect(hub, first.key);
    await expect(keyOnly.authenticate("dora@localhost")).rejects.toThrow();
    const error = keyOnly.frames.find((f) => errorName(f) !== undefined);
    expect(error && errorName(error)).toBe("AUTH_FAILED");
    expect(error && decodeErrorMessage(error)).toMatch(/fresh oidc credential/);
    // With a fresh token it is in again, as dora.
    const again = await RawSession.connect(hub, first.key);
    const ok = await again.authenticate("dora", oidc(await op.login("dora")));
    expect(decodePayload(Opcode.AUTH_OK, ok.payload).user_id).toBe("dora@localhost");
    again.close();
    await pingOk(bystander);
  });

  it("checks the token once per session: the session outlives its token", async () => {
    const exp = nowS() + 2;
    const s = await RawSession.connect(hub);
    await s.authenticate("carol", oidc(await signed({ sub: "carol", exp })));
    const fetches = op.jwksFetches();
    // Wait (bounded) until the token is past its expiry on this machine's clock.
    while (nowS() <= exp) await new Promise((r) => setTimeout(r, 200));
    await pingOk(s);
    // A fresh HELLO with that token is refused now; the old session still works.
    const { error } = await helloWith("carol", await signed({ sub: "carol", exp }));
    expect(error && errorName(error)).toBe("AUTH_FAILED");
    await pingOk(s);
    expect(op.jwksFetches()).toBe(fetches);
    s.close();
    await pingOk(bystander);
  });
});

function decodeErrorMessage(f: Frame): string {
  return decodeErrorPayload(f.payload).message;
}
