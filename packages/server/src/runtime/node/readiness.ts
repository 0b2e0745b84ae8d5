/**
 * Readiness as a set of named checks (`/readyz`): the hub is ready when every check passes.
 * `/healthz` stays liveness only (the process answers) so a supervisor never restarts a hub
 * that is merely waiting for its disk or a peer; a load balancer takes it out of rotation.
 *
 * A check answers `{ok: true}` or `{ok: false, reason}`; a check that throws or does not
 * answer within its timeout fails with that as its reason, so one stuck probe cannot hang
 * `/readyz`. Probes that touch the disk or the shard threads cache their answer briefly
 * (`cached`): `/readyz` is unauthenticated and a flood of requests must not become a flood
 * of fsyncs.
 */

export type CheckResult = { ok: true } | { ok: false; reason: string };

export interface ReadinessCheck {
  /** Stable, snake_case: it names the check in the JSON body and in the docs. */
  readonly name: string;
  run(): CheckResult | Promise<CheckResult>;
}

export interface ReadinessReport {
  ready: boolean;
  /** Names of the failing checks, in check order. */
  failing: string[];
  checks: Record<string, CheckResult>;
}

/** How long one check may take before it counts as failed. */
export const CHECK_TIMEOUT_MS = 3000;

/** Runs every check concurrently and reports them all (not only the first failure). */
export async function evaluateReadiness(
  checks: readonly ReadinessCheck[],
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<ReadinessReport> {
  const results = await Promise.all(checks.map((c) => runCheck(c, timeoutMs)));
  const report: ReadinessReport = { ready: true, failing: [], checks: {} };
  checks.forEach((c, i) => {
    const r = results[i] ?? { ok: false, reason: "no result" };
    report.checks[c.name] = r;
    if (!r.ok) {
      report.ready = false;
      report.failing.push(c.name);
    }
  });
  return report;
}

async function runCheck(c: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    timer.unref?.();
  });
  try {
    return await Promise.race([Promise.resolve().then(() => c.run()), late]);
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A check whose answer is reused for `ttlMs` (by the monotonic `now`), and whose concurrent
 * callers share one run: at most one probe per `ttlMs` whatever the request rate.
 */
export function cached(
  check: ReadinessCheck,
  ttlMs: number,
  now: () => number = () => performance.now(),
): ReadinessCheck {
  let last: { at: number; result: Promise<CheckResult> } | undefined;
  return {
    name: check.name,
    run() {
      const t = now();
      if (last === undefined || t - last.at >= ttlMs) {
        last = { at: t, result: Promise.resolve().then(() => check.run()) };
      }
      return last.result;
    },
  };
}
