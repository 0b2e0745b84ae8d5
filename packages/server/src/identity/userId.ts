/**
 * What a user id may be (DESIGN §10, issue 12): printable and bounded, because it is shown
 * to other users, written to the log and the audit chain, and used as a storage key. A
 * 1 MiB `user_id` once reached the hub log; now nothing that fails here is logged or kept.
 *
 * Authenticated ids are `name@domain` (`server.domain`); the development authenticator
 * keeps the name a client chooses, checked by the same rule.
 */

/** Most UTF-8 bytes of a user id (well under the 4 KiB pre-auth payload cap). */
export const MAX_USER_ID_BYTES = 256;

// Letters, marks, digits, punctuation and symbols; no spaces, control or format characters
// (bidi overrides, zero-width joiners) that would make two ids look alike in a log line.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]+$/u;
const utf8 = new TextEncoder();

/** Why `id` is not a valid user id, or undefined when it is. The reason never quotes the id. */
export function userIdProblem(id: string): string | undefined {
  if (typeof id !== "string" || id.length === 0) return "user id is empty";
  if (id.length > MAX_USER_ID_BYTES || utf8.encode(id).length > MAX_USER_ID_BYTES) {
    return `user id is longer than ${MAX_USER_ID_BYTES} bytes`;
  }
  if (!PRINTABLE.test(id)) return "user id has spaces, control or invisible characters";
  return undefined;
}

/**
 * The home domain of `userId` (DESIGN §10: what federation routes on): after its last `@`,
 * lower-cased; undefined for a bare name (a user of this hub).
 */
export function domainOf(userId: string): string | undefined {
  const at = userId.lastIndexOf("@");
  if (at < 0 || at === userId.length - 1) return undefined;
  return userId.slice(at + 1).toLowerCase();
}

/** The name of a user on this hub: `name@domain`, or `name` as is when it already names `domain`. */
export function qualifiedUserId(name: string, domain: string): string {
  return name.endsWith(`@${domain}`) ? name : `${name}@${domain}`;
}
