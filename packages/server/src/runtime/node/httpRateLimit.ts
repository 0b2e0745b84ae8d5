/**
 * A per-address rate limit for the WebSocket listener's plain HTTP requests (the web app's
 * files and `/.well-known/kalandra.json`, webApp.ts): each request costs the hub a file
 * read or a response before anybody authenticated, so one address gets
 * `web.http_rate_per_ip` requests per second (burst `web.http_burst_per_ip`); beyond it,
 * 429 with `retry-after`. WebSocket upgrades never pass here (they have their own caps).
 *
 * The table of addresses is bounded: at `maxTracked` addresses, buckets that refilled are
 * dropped (they admit what a new one would); if every one is still in use, the addresses
 * not in the table share one overflow bucket, so a flood from many addresses costs a
 * bounded table and still gets refused.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "@kalandra/proto";
import { TokenBucket } from "../../hub/tokenBucket.js";
import { peerHost } from "./connectionGate.js";

export interface HttpRateLimitOptions {
  ratePerSec: number;
  burst: number;
  clock: Clock;
  /** Addresses with a bucket of their own; default 10,000. */
  maxTracked?: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class HttpRateLimit {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #overflow: TokenBucket;
  readonly #maxTracked: number;
  /** Requests refused so far (metrics, tests). */
  refused = 0;

  constructor(private readonly o: HttpRateLimitOptions) {
    this.#maxTracked = o.maxTracked ?? 10_000;
    this.#overflow = new TokenBucket(o.ratePerSec, o.burst, o.clock);
  }

  /** Addresses with a bucket of their own now. */
  get tracked(): number {
    return this.#buckets.size;
  }

  /** Whether one more request from `address` may be served now. */
  admit(address: string): boolean {
    return this.#bucketOf(address).take();
  }

  /** `handler` behind the limit. */
  wrap(handler: Handler): Handler {
    return (req, res) => {
      const address = peerHost(req.socket.remoteAddress) ?? "unknown";
      if (this.admit(address)) {
        handler(req, res);
        return;
      }
      this.refused++;
      res.writeHead(429, {
        "content-type": "text/plain; charset=utf-8",
        "retry-after": String(Math.max(1, Math.ceil(1 / this.o.ratePerSec))),
        "cache-control": "no-store",
      });
      res.end("TOO_MANY_REQUESTS: slow down\n");
    };
  }

  #bucketOf(address: string): TokenBucket {
    const known = this.#buckets.get(address);
    if (known !== undefined) return known;
    if (this.#buckets.size >= this.#maxTracked) {
      for (const [a, b] of this.#buckets) if (b.isFull()) this.#buckets.delete(a);
      if (this.#buckets.size >= this.#maxTracked) return this.#overflow;
    }
    const bucket = new TokenBucket(this.o.ratePerSec, this.o.burst, this.o.clock);
    this.#buckets.set(address, bucket);
    return bucket;
  }
}
