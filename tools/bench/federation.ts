/**
 * `pnpm bench federation` (issue 18): two kalandrad processes on loopback federating,
 * `a.example` and `b.example`, each pinning the other's hub key (docs/federation.md).
 *
 * - `lag_ms_p50/p99`: a room on A with a member whose home is B; one message at a time,
 *   from the sender's `send` call on A to the decrypted message at the member on B (A
 *   sequences, sends it over the hub link, B fans it out). `single_hub_lag_ms_*`: the same
 *   run's baseline, both members on A, measured the same way.
 * - `baseline_lag_ms_p50/p99`: the load generator's single-hub figure on A (two members,
 *   20 messages/s over WebTransport), as `pnpm bench e2e` measures.
 * - `link_up_ms_p50/p99`: hub B SIGKILLed and restarted on its data directory, from B
 *   ready to A's link to B up again (A dials: redial backoff 100 ms … 1 s here, handshake,
 *   both keys proved), over `rounds` kills.
 * - `link_rtt_ms`: the link's keepalive round trip as A's metric reports it.
 * - `transfer_ms_p50/p99`: planned transfer under load. A room with alice@a.example and
 *   bob@b.example, both sending one message after another the whole time; the operator
 *   moves it to the other hub (`POST /admin/rooms/transfer`, what `kalandrad admin rooms
 *   transfer` calls) and back, `transfer_rounds` times. Each round: from the admin call
 *   (the proposal) to the first acknowledgement a member receives after the call was
 *   answered (the answer comes once the new authority installed the room and said so, so
 *   every acknowledgement after it is the new authority's): an upper bound of "proposal →
 *   first write accepted by the new authority", client retry delay included.
 *   `transfer_answer_ms_p99`: the admin call alone. `transfer_acked`/`transfer_seen`:
 *   messages acknowledged in the run and how many of them both members decrypted.
 *
 * - `failover_ms_p50/p99`, `acked_lost`: three more kalandrad processes in majority mode,
 *   the room's authority SIGKILLed under load, `failover_rounds` times: SIGKILL → first
 *   write accepted by the new authority, and acknowledged messages a survivor never got
 *   (_federationFailover.ts).
 * BENCH_QUICK=1: 20 messages, two kill rounds, a two-second baseline, two transfers, one
 * failover.
 */
import type { SpawnedHub } from "../loadgen/hub.js";
import { percentile, runLoad } from "../loadgen/loadgen.js";
import { transfers } from "./_federationAuthority.js";
import { failovers } from "./_federationFailover.js";
import { linkUp, member, metric, roomWith, spec, start } from "./_federationHubs.js";

const quick = process.env.BENCH_QUICK === "1";
const log = (s: string) => process.stderr.write(`[federation] ${s}\n`);
const rounds = quick ? 2 : 10;
const transferRounds = quick ? 2 : 10;
const failoverRounds = quick ? 1 : 6;

/**
 * Sender on `from`, receiver (`receiverId`, home `to`) added to the sender's room; `n`
 * messages one after another: send called → decrypted by the receiver, ms, sorted.
 */
async function lag(
  from: SpawnedHub,
  senderId: string,
  to: SpawnedHub,
  receiverId: string,
  n: number,
): Promise<number[]> {
  const s = await member(senderId, from);
  const r = await member(receiverId, to);
  try {
    // The receiver has processed its Welcome (epoch 1) before the first message is timed.
    const room = await roomWith(s, [{ m: r, id: receiverId }]);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const body = `m${i}`;
      const t0 = performance.now();
      await s.client.send(room, new TextEncoder().encode(body));
      const until = t0 + 10_000;
      while (!r.arrived.has(body) && performance.now() < until) {
        await new Promise((res) => setImmediate(res));
      }
      const t1 = r.arrived.get(body);
      if (t1 === undefined) throw new Error(`${body} not delivered to ${receiverId} within 10 s`);
      out.push(t1 - t0);
    }
    return out.sort((x, y) => x - y);
  } finally {
    s.close();
    r.close();
  }
}

const [a, b] = [await spec("a.example"), await spec("b.example")];
let hubB = await start(b, [a]);
const hubA = await start(a, [b]);
try {
  await linkUp(hubA, b.domain);
  log("link a.example → b.example up");
  const n = quick ? 20 : 300;
  const same = await lag(hubA, "carol@a.example", hubA, "dave@a.example", n);
  log(
    `same hub: p50 ${percentile(same, 50).toFixed(2)} ms p99 ${percentile(same, 99).toFixed(2)} ms`,
  );
  const cross = await lag(hubA, "alice@a.example", hubB, "bob@b.example", n);
  log(
    `across hubs: p50 ${percentile(cross, 50).toFixed(2)} ms p99 ${percentile(cross, 99).toFixed(2)} ms`,
  );

  const baseline = await runLoad({
    url: hubA.url,
    certHash: hubA.certHash,
    hubKey: hubA.hubKey,
    rooms: 1,
    members: 2,
    rate: 20,
    durationMs: quick ? 2000 : 8000,
    log,
  });
  log(`single-hub baseline p50 ${baseline.p50_ms} ms p99 ${baseline.p99_ms} ms`);

  const upMs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    hubB.child.kill("SIGKILL");
    await hubB.exit;
    hubB = await start(b, [a]);
    upMs.push(await linkUp(hubA, b.domain));
    log(`round ${i + 1}: link up ${upMs.at(-1)?.toFixed(1)} ms after b was ready`);
  }
  upMs.sort((x, y) => x - y);
  await linkUp(hubA, b.domain);
  const moved = await transfers({ "a.example": hubA, "b.example": hubB }, transferRounds);
  // The keepalive runs every 5 s: wait for one round trip on the last link.
  const rttDeadline = performance.now() + (quick ? 0 : 6000);
  let rtt = await metric(hubA, /^kalandra_federation_link_rtt_seconds\{peer="b\.example"\}/);
  while (rtt === undefined && performance.now() < rttDeadline) {
    await new Promise((r) => setTimeout(r, 100));
    rtt = await metric(hubA, /^kalandra_federation_link_rtt_seconds\{peer="b\.example"\}/);
  }
  await hubA.stop();
  await hubB.stop();
  const trio = [await spec("a.example"), await spec("b.example"), await spec("c.example")];
  const failed = await failovers(trio, failoverRounds).finally(() => {
    for (const s of trio) s.dir.cleanup();
  });
  const round = (x: number) => Math.round(x * 10) / 10;
  console.log(
    JSON.stringify({
      hubs: 2,
      failover_hubs: 3,
      baseline_lag_ms_p50: baseline.p50_ms,
      baseline_lag_ms_p99: baseline.p99_ms,
      baseline_delivered: baseline.delivered,
      baseline_expected: baseline.expected_deliveries,
      link_up_rounds: rounds,
      link_up_ms_p50: round(percentile(upMs, 50)),
      link_up_ms_p99: round(percentile(upMs, 99)),
      link_rtt_ms: rtt === undefined ? null : round(rtt * 1000),
      lag_messages: n,
      lag_ms_p50: round(percentile(cross, 50)),
      lag_ms_p99: round(percentile(cross, 99)),
      single_hub_lag_ms_p50: round(percentile(same, 50)),
      single_hub_lag_ms_p99: round(percentile(same, 99)),
      transfer_rounds: transferRounds,
      transfer_ms_p50: round(percentile(moved.firstWriteMs, 50)),
      transfer_ms_p99: round(percentile(moved.firstWriteMs, 99)),
      transfer_answer_ms_p99: round(percentile(moved.answerMs, 99)),
      transfer_acked: moved.acked,
      transfer_seen: moved.seen,
      failover_rounds: failoverRounds,
      failover_ms_p50: round(percentile(failed.failoverMs, 50)),
      failover_ms_p99: round(percentile(failed.failoverMs, 99)),
      failover_acked: failed.acked,
      acked_lost: failed.lost,
    }),
  );
} finally {
  await hubA.stop();
  await hubB.stop();
  a.dir.cleanup();
  b.dir.cleanup();
}
