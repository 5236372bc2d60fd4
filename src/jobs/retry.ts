import { backoffDelay as backoff } from "../util/backoff.ts";

/**
 * Retries of a run after a transient failure (seed 003): exponential backoff from a base delay
 * (1 s, 2 s, 4 s) with +/-20% jitter so runs failing together do not retry in lockstep, at most
 * `maxRetries` times. Permanent failures never retry.
 */
export interface RetryPolicy {
  baseDelayMs: number;
  maxRetries: number;
  /** 0.2 = +/-20%. */
  jitter: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 1000, maxRetries: 3, jitter: 0.2 };

/** Delay before retry number `retry` (1-based): base * 2^(retry-1), jittered. */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return backoff(retry, policy.baseDelayMs, policy.jitter, random);
}

/** ConnectorError carries `transient`; anything else is permanent unless it says otherwise. */
export function isTransient(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { transient?: unknown }).transient === true;
}

/** A stable code for a failure: a ConnectorError's code, else EXECUTION_FAILED. */
export function errorCode(error: unknown): string {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^[A-Z_]+$/.test(code) ? code : "EXECUTION_FAILED";
}

/** Resolves after `ms`, or early (false) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
