import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { AppError } from "../../src/errors.ts";
import { rateLimitKey, startRunLimiter } from "../../src/systems/start-run-limit.ts";
import { RateLimiter } from "../../src/util/rate-limiter.ts";

describe("RateLimiter (token bucket per caller)", () => {
  it("allows a burst, then refuses with the wait until the next token", () => {
    let now = 0;
    const limiter = new RateLimiter({ capacity: 3, refillPerSecond: 0.5, now: () => now });
    expect([1, 2, 3].map(() => limiter.take("a").allowed)).toEqual([true, true, true]);
    const refused = limiter.take("a");
    expect(refused).toEqual({ allowed: false, retryAfterMs: 2000, remaining: 0 });
    now = 1000;
    expect(limiter.take("a").retryAfterMs).toBe(1000);
    now = 2000;
    expect(limiter.take("a").allowed).toBe(true);
    expect(limiter.take("a").allowed).toBe(false);
  });

  it("keeps callers apart and never stores more than the capacity", () => {
    let now = 0;
    const limiter = new RateLimiter({ capacity: 2, refillPerSecond: 1, now: () => now });
    limiter.take("a");
    limiter.take("a");
    expect(limiter.take("a").allowed).toBe(false);
    expect(limiter.take("b").allowed).toBe(true);
    now = 60_000;
    expect([1, 2, 3].map(() => limiter.take("b").allowed)).toEqual([true, true, false]);
  });

  it("throws RATE_LIMITED with retryAfterSeconds from consume()", () => {
    const limiter = new RateLimiter({ capacity: 1, refillPerSecond: 0.1, now: () => 0 });
    limiter.consume("k", "startRun");
    try {
      limiter.consume("k", "startRun");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(AppError);
      expect((e as AppError).code).toBe("RATE_LIMITED");
      expect((e as AppError).details).toEqual({ retryAfterSeconds: 10 });
      expect((e as AppError).message).toContain("startRun");
    }
  });

  it("forgets idle callers", () => {
    let now = 0;
    const limiter = new RateLimiter({ capacity: 1, refillPerSecond: 1, idleMs: 1000, now: () => now });
    for (let i = 0; i < 100; i++) limiter.take(`c${i}`);
    expect(limiter.size).toBe(100);
    now = 5000;
    limiter.take("fresh");
    expect(limiter.size).toBe(1);
  });

  it("keys by API key, else by client address", () => {
    expect(rateLimitKey({ apiKeyId: "k1", clientAddress: "127.0.0.1" })).toBe("key:k1");
    expect(rateLimitKey({ apiKeyId: null, clientAddress: "127.0.0.1" })).toBe("addr:127.0.0.1");
  });

  it("builds startRun's limiter from the environment (default burst 30)", () => {
    const limiter = startRunLimiter(loadConfig({ METASYNC_START_RUN_BURST: "2", METASYNC_START_RUN_PER_SECOND: "0.5" }));
    expect([1, 2, 3].map(() => limiter.take("k").allowed)).toEqual([true, true, false]);
    const defaults = startRunLimiter(loadConfig({}));
    expect(Array.from({ length: 31 }, () => defaults.take("k").allowed).filter(Boolean)).toHaveLength(30);
  });
});
