import { AppError } from "../errors.ts";

export interface RateLimitOptions {
  /** Burst: how many calls a caller may make at once. */
  capacity: number;
  /** Sustained rate: tokens added back per second. */
  refillPerSecond: number;
  /** Buckets idle this long are forgotten (memory stays bounded by active callers). */
  idleMs?: number;
  now?: () => number;
}

export interface RateDecision {
  allowed: boolean;
  /** When not allowed: how long until one call is allowed again. */
  retryAfterMs: number;
  remaining: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token bucket per caller key (an API key id, or the client address for keyless loopback
 * use), in memory per API process: it protects the start gate from a script that loops, it
 * is not a global quota across processes.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private lastSweep: number;

  constructor(private readonly options: RateLimitOptions) {
    if (options.capacity < 1 || options.refillPerSecond <= 0) throw new Error("capacity >= 1 and refillPerSecond > 0 required");
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  take(key: string): RateDecision {
    const now = this.now();
    this.sweep(now);
    const { capacity, refillPerSecond } = this.options;
    const bucket = this.buckets.get(key) ?? { tokens: capacity, at: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * refillPerSecond);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterMs: 0, remaining: Math.floor(bucket.tokens) };
    }
    return { allowed: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / refillPerSecond) * 1000), remaining: 0 };
  }

  /** How long until `key` may call again (0: now), without using a token. */
  waitMs(key: string): number {
    const bucket = this.buckets.get(key);
    if (!bucket) return 0;
    const { capacity, refillPerSecond } = this.options;
    const tokens = Math.min(capacity, bucket.tokens + ((this.now() - bucket.at) / 1000) * refillPerSecond);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / refillPerSecond) * 1000);
  }

  /** take(), throwing RATE_LIMITED (with retryAfterSeconds) when the caller is over its rate. */
  consume(key: string, what = "this operation"): void {
    const d = this.take(key);
    if (!d.allowed) {
      const seconds = Math.ceil(d.retryAfterMs / 1000);
      throw new AppError("RATE_LIMITED", `too many calls of ${what}: retry in ${seconds} s`, { retryAfterSeconds: seconds });
    }
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number) {
    const idle = this.options.idleMs ?? 10 * 60_000;
    if (now - this.lastSweep < idle) return;
    this.lastSweep = now;
    for (const [key, b] of this.buckets) if (now - b.at >= idle) this.buckets.delete(key);
  }
}
