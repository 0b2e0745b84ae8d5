/**
 * Members' identities in Wire's client-id format,
 * `<uuid>:<device id in hex, no leading zeros>@<domain>`: the BasicCredential identity of
 * every leaf, on both sides. core-crypto parses the sender's credential into a ClientId
 * when it decrypts an application message and fails on any other form.
 */

const DOMAIN = "interop.kalandra.test";

/** The n-th identity of a run; deterministic, distinct for distinct n. */
export function wireIdentity(n: number): string {
  const hex = n.toString(16).padStart(12, "0");
  const device = (0x1000 + n).toString(16);
  return `00000000-0000-4000-8000-${hex}:${device}@${DOMAIN}`;
}

export function parseClientId(identity: string): { user: string; device: string; domain: string } {
  const m = /^([0-9a-f-]{36}):([0-9a-f]{1,16})@(.+)$/.exec(identity);
  if (m === null) throw new Error(`not a Wire client id: ${identity}`);
  return { user: m[1] as string, device: m[2] as string, domain: m[3] as string };
}
