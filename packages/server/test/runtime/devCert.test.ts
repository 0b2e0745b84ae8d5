import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  certificateHash,
  DEV_CERT_DAYS,
  generateDevCertificate,
} from "../../src/runtime/node/devCert.js";

describe("generateDevCertificate", () => {
  // A serial drawn from a hash starts with 0x00 one time in 256; OpenSSL refused such a
  // certificate ("illegal padding") and kalandrad failed to start.
  const serials: [string, Uint8Array][] = [
    ["leading zero byte", Uint8Array.from([0, 0x12, ...new Uint8Array(14).fill(7)])],
    [
      "two leading zero bytes, then high bit",
      Uint8Array.from([0, 0, 0x92, ...new Uint8Array(13).fill(7)]),
    ],
    ["high bit set", Uint8Array.from([0x80, ...new Uint8Array(15).fill(1)])],
    ["all zero", new Uint8Array(16)],
  ];
  for (const [label, serial] of serials) {
    it(`writes a certificate OpenSSL parses: ${label}`, () => {
      const now = new Date("2026-12-06T10:00:00Z");
      const c = generateDevCertificate(["localhost", "127.0.0.1"], now, serial);
      const x = new X509Certificate(c.cert);
      expect(BigInt(`0x${x.serialNumber}`)).toBe(
        BigInt(`0x${Buffer.from(serial).toString("hex")}`),
      );
      expect(new Date(x.validTo).getTime() - new Date(x.validFrom).getTime()).toBe(
        DEV_CERT_DAYS * 86400_000,
      );
      expect(certificateHash(c.cert)).toEqual(c.hash);
    });
  }
});
