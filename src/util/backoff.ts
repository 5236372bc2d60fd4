/**
 * Delay before retry number `attempt` (1-based): base * 2^(attempt-1), jittered by +/-`jitter`
 * (0.2 = +/-20%) so work failing together does not retry in lockstep. Runs (src/jobs/retry.ts)
 * and failed exports (src/engine/outbound/run-export.ts) back off the same way.
 */
export function backoffDelay(attempt: number, baseMs: number, jitter = 0.2, random: () => number = Math.random): number {
  const nominal = baseMs * 2 ** Math.max(0, attempt - 1);
  return Math.round(nominal * (1 + jitter * (random() * 2 - 1)));
}
