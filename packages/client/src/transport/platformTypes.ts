/**
 * The parts of the W3C WebTransport and WHATWG WebSocket APIs the client uses,
 * structurally: browsers' globals, @fails-components/webtransport and `ws` in Node all
 * have them. The platform provides the classes (`#platform/webTransport`,
 * `#platform/webSocket`).
 */
export interface WtStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

export interface Wt {
  ready: Promise<void>;
  closed: Promise<unknown>;
  close(info?: { closeCode?: number; reason?: string }): void;
  createBidirectionalStream(): Promise<WtStream>;
  /** Unreliable datagrams (the hub sends PRESENCE/TYPING this way when it can). */
  datagrams?: { readable: ReadableStream<Uint8Array> };
}

export interface Socket {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type SocketClass = new (url: string) => Socket;
