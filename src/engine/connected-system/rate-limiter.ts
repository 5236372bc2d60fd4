import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { ConnectorError } from "../../connectors/connector.ts";
import { type BucketLimit, blockFor, takeTokens } from "./rate-limit-store.ts";

/** A connected system's rate limit (ConnectedSystemInput.rateLimit); absent fields are unlimited. */
export interface RateLimit {
  requestsPerSecond?: number | null;
  objectsPerSecond?: number | null;
  /** Most requests (and objects) that may go at once after a quiet spell; default one second's worth. */
  burst?: number | null;
}

/** The longest a run sleeps for the target in one go; a longer Retry-After fails the call as THROTTLED. */
const MAX_WAIT_MS = 5 * 60_000;

/** One bucket per limited kind, with the burst the caller configured or one second of rate. */
export function bucketsOf(limit: RateLimit | null | undefined): Omit<BucketLimit, "take">[] {
  const buckets: Omit<BucketLimit, "take">[] = [];
  const add = (kind: BucketLimit["kind"], rate: number | null | undefined) => {
    if (rate) buckets.push({ kind, rate, burst: limit?.burst ?? Math.max(1, Math.ceil(rate)) });
  };
  add("requests", limit?.requestsPerSecond);
  add("objects", limit?.objectsPerSecond);
  return buckets;
}

/**
 * Paces one run's calls to its connected system by the system's limit, in step with every other
 * worker (the buckets live in PostgreSQL), and holds all of them while a target's Retry-After runs.
 */
export class SystemRateLimiter {
  private readonly buckets: Omit<BucketLimit, "take">[];

  constructor(
    private readonly deps: {
      pool: Pick<pg.Pool, "query">;
      systemId: string;
      limit: RateLimit | null;
      /** Cancel, pause or shutdown: a wait ends early and throws the abort reason. */
      signal?: AbortSignal;
    },
  ) {
    this.buckets = bucketsOf(deps.limit);
  }

  /** Most objects one call should carry so that no call bursts past the limit (Infinity: unlimited). */
  get chunkSize(): number {
    return Math.min(...this.buckets.map((b) => b.burst));
  }

  /** Waits until `use` may go ahead under the limit and any Retry-After. */
  async take(use: { requests?: number; objects?: number }): Promise<void> {
    const limits = this.buckets.flatMap((b) => {
      const take = use[b.kind] ?? 0;
      return take > 0 ? [{ ...b, take }] : [];
    });
    const waitMs = await takeTokens(this.deps.pool, this.deps.systemId, limits);
    if (waitMs > MAX_WAIT_MS)
      throw new ConnectorError("THROTTLED", `the target asked for no calls for another ${Math.ceil(waitMs / 1000)} s`, true, {
        retryAfterMs: waitMs,
      });
    if (waitMs > 0) await sleep(Math.ceil(waitMs), undefined, { signal: this.deps.signal });
  }

  /** The target answered Retry-After: no worker calls it again before then. */
  async holdOff(ms: number): Promise<void> {
    if (ms > 0) await blockFor(this.deps.pool, this.deps.systemId, ms);
  }
}
