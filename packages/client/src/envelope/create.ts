/**
 * Stamps content with a random id and the sending time (DESIGN §2: Clock and Rng are
 * injected, never global).
 */
import type { Clock, Rng } from "@kalandra/proto";
import { EnvelopeError } from "./errors.js";
import { type EnvelopeContent, ID_BYTES, type MessageEnvelope } from "./types.js";
import { validateEnvelope } from "./validate.js";

export function createEnvelope(
  content: EnvelopeContent,
  env: { clock: Clock; rng: Rng },
): MessageEnvelope {
  const id = env.rng.bytes(ID_BYTES);
  if (id.length !== ID_BYTES)
    throw new EnvelopeError("INVALID_FIELD", "rng returned a short id", "id");
  return validateEnvelope({ ...content, id, sent_at: env.clock.now() });
}
