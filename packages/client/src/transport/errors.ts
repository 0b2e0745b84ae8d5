/** Error raised when the hub refuses the handshake or cannot be reached in time. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
