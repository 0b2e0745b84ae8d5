/** Typed failures of the client (docs/client.md "API"). */
import { Flag } from "@kalandra/proto";
import { fieldNumber, fieldText, fieldU64, payloadOf, type ReceivedFrame } from "./wire.js";

/** A failure on the client's side, with a stable `code`. */
export class ClientError extends Error {
  override readonly name = "ClientError";
  constructor(
    readonly code: string,
    message: string,
    readonly expectedEpoch?: bigint,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Hub ERROR frames (docs/contracts.md "Responses") carried as typed errors. */
export class HubError extends Error {
  override readonly name = "HubError";
  constructor(
    readonly code: number,
    readonly hubName: string,
    message: string,
    readonly expectedEpoch?: bigint,
    /** TRANSFERRING, PEER_UNREACHABLE, rate limits: when the hub says a retry may succeed. */
    readonly retryAfterMs?: bigint,
  ) {
    super(`${hubName}: ${message}`);
  }
}

/** The `HubError` an ERROR response frame carries. */
export function hubError(f: ReceivedFrame): HubError {
  try {
    const p = payloadOf(f);
    const expected = p.expected_epoch === undefined ? undefined : fieldU64(p, "expected_epoch");
    const retry = p.retry_after_ms === undefined ? undefined : fieldU64(p, "retry_after_ms");
    return new HubError(
      fieldNumber(p, "code"),
      fieldText(p, "name"),
      fieldText(p, "message"),
      expected,
      retry,
    );
  } catch {
    return new HubError(0, "Malformed", "malformed ERROR payload");
  }
}

/** Returns `resp` when it is a success; throws the hub's ERROR as a `HubError`. */
export function expectAck(resp: ReceivedFrame): ReceivedFrame {
  if ((resp.header.flags & Flag.ERROR) !== 0) throw hubError(resp);
  return resp;
}

/** `e` as an Error (a thrown non-Error wrapped), for the "error" event. */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
