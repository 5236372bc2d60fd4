import type { Config } from "../config.ts";
import { RateLimiter } from "../util/rate-limiter.ts";

/** The caller key for rate limits: its API key, else its address (keyless loopback mode). */
export function rateLimitKey(ctx: { apiKeyId?: string | null; clientAddress?: string }): string {
  return ctx.apiKeyId ? `key:${ctx.apiKeyId}` : `addr:${ctx.clientAddress ?? "unknown"}`;
}

/**
 * startRun's limiter: bursts of 30, then one start per second per caller by default
 * (METASYNC_START_RUN_BURST / METASYNC_START_RUN_PER_SECOND). A burst well above what a
 * person or a schedule does; a script looping on startRun is refused with RATE_LIMITED.
 */
export function startRunLimiter(config: Pick<Config, "startRunRateLimit">): RateLimiter {
  const limits = config.startRunRateLimit ?? { burst: 30, perSecond: 1 };
  return new RateLimiter({ capacity: limits.burst, refillPerSecond: limits.perSecond });
}
