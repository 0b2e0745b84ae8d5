import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeDeviceLink, deviceLinkSignatureValid, signDeviceLink } from "../src/deviceLink.js";
import { isProtocolError } from "../src/errors.js";
import { generateDeviceKey } from "../src/signing.js";
import { seededRng } from "./helpers.js";

const rng = seededRng(7);

describe("device links", () => {
  const signer = generateDeviceKey(rng);
  const body = {
    device_key: new Uint8Array(32).fill(9),
    user_id: "alice@hub",
    expires_at: 1_700_000_300n,
    nonce: new Uint8Array(16).fill(4),
  };

  it("round-trips and verifies against the signer key; any changed field breaks it", () => {
    const link = decodeDeviceLink(signDeviceLink(signer.signer, body));
    expect(link).toMatchObject({ ...body, signer_key: signer.publicKey });
    expect(deviceLinkSignatureValid(link)).toBe(true);
    expect(deviceLinkSignatureValid({ ...link, user_id: "mallory@hub" })).toBe(false);
    expect(deviceLinkSignatureValid({ ...link, expires_at: link.expires_at + 1n })).toBe(false);
    const other = generateDeviceKey(rng);
    expect(deviceLinkSignatureValid({ ...link, signer_key: other.publicKey })).toBe(false);
  });

  it("property: arbitrary bytes decode to a link or fail with ProtocolError only", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          decodeDeviceLink(b);
        } catch (e) {
          expect(isProtocolError(e, "BAD_PAYLOAD")).toBe(true);
        }
      }),
    );
  });
});
