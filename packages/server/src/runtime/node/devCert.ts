/**
 * Development certificates for WebTransport's `serverCertificateHashes` mode: a
 * self-signed ECDSA P-256 certificate valid for less than 14 days (the W3C WebTransport
 * spec refuses longer ones for hash pinning), written as a minimal DER X.509 v3
 * certificate so no openssl binary is needed. Production deployments configure [tls].
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  sign,
  X509Certificate,
} from "node:crypto";

export interface DevCertificate {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. Never log it. */
  key: string;
  /** SHA-256 of the DER certificate (what clients pin). */
  hash: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

/** Validity of a generated certificate; must stay below the 14-day WebTransport limit. */
export const DEV_CERT_DAYS = 13;

// --- minimal DER writer --------------------------------------------------------------

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>>= 8) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  return Buffer.concat([Uint8Array.of(tag), derLength(body.length), body]);
}

const seq = (...parts: Uint8Array[]) => tlv(0x30, ...parts);
const set = (...parts: Uint8Array[]) => tlv(0x31, ...parts);

function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const first = arcs[0] ?? 0;
  const second = arcs[1] ?? 0;
  const out: number[] = [first * 40 + second];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] = (chunk[i] ?? 0) | 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

function positiveInteger(bytes: Uint8Array): Uint8Array {
  // DER INTEGER is minimal two's complement (X.690 §8.3.2): leading zero bytes are
  // "illegal padding" to OpenSSL (a random serial starts with 0x00 one time in 256),
  // and a 0x00 prefix is needed when the high bit is set.
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const body = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Uint8Array.of(0), trimmed]) : trimmed;
  return tlv(0x02, body);
}

function utcTime(d: Date): Uint8Array {
  const p = (n: number) => String(n).padStart(2, "0");
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, "ascii"));
}

function name(commonName: string): Uint8Array {
  return seq(set(seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(commonName, "utf8")))));
}

const ECDSA_WITH_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

function subjectAltName(hosts: readonly string[]): Uint8Array {
  const names = hosts.map((h) => {
    const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
    if (v4) return tlv(0x87, Uint8Array.from(v4.slice(1).map(Number)));
    return tlv(0x82, Buffer.from(h, "ascii"));
  });
  return seq(oid("2.5.29.17"), tlv(0x04, seq(...names)));
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * Generates a fresh self-signed development certificate for `hosts` (DNS names or IPv4
 * addresses), valid from one hour ago (clock skew) for `DEV_CERT_DAYS` days.
 */
export function generateDevCertificate(
  hosts: readonly string[] = ["localhost", "127.0.0.1"],
  now: Date = new Date(),
  serial: Uint8Array = createHash("sha256")
    .update(String(now.getTime()))
    .update(String(process.pid))
    .digest()
    .subarray(0, 16),
): DevCertificate {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const notBefore = new Date(now.getTime() - 3600_000);
  const notAfter = new Date(notBefore.getTime() + DEV_CERT_DAYS * 86400_000);
  const extensions = tlv(0xa3, seq(subjectAltName(hosts)));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Uint8Array.of(2))),
    positiveInteger(serial.subarray(0, 16)),
    ECDSA_WITH_SHA256,
    name("kalandra development hub"),
    seq(utcTime(notBefore), utcTime(notAfter)),
    name("kalandra development hub"),
    spki,
    extensions,
  );
  const signature = sign("sha256", tbs, privateKey); // DER ECDSA-Sig-Value
  const der = seq(tbs, ECDSA_WITH_SHA256, tlv(0x03, Uint8Array.of(0), signature));
  const key = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return {
    cert: pem("CERTIFICATE", der),
    key,
    hash: new Uint8Array(createHash("sha256").update(der).digest()),
    notBefore,
    notAfter,
  };
}

/** SHA-256 of a PEM certificate's DER bytes, as WebTransport clients pin it. */
export function certificateHash(certPem: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(new X509Certificate(certPem).raw).digest());
}

/** Checks that a PEM key parses; throws with a labelled message otherwise. */
export function checkPrivateKey(keyPem: string): void {
  createPrivateKey(keyPem);
}
