import { describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/connector.ts";
import { backoffDelay, DEFAULT_RETRY, errorCode, isTransient } from "../../src/jobs/retry.ts";

describe("retry policy (seed 003)", () => {
  it("backs off 1 s, 2 s, 4 s without jitter at the midpoint", () => {
    expect([1, 2, 3].map((n) => backoffDelay(n, DEFAULT_RETRY, () => 0.5))).toEqual([1000, 2000, 4000]);
    expect(DEFAULT_RETRY.maxRetries).toBe(3);
  });

  it("keeps jitter within +/-20%", () => {
    expect(backoffDelay(1, DEFAULT_RETRY, () => 0)).toBe(800);
    expect(backoffDelay(1, DEFAULT_RETRY, () => 1)).toBe(1200);
    expect(backoffDelay(3, DEFAULT_RETRY, () => 0)).toBe(3200);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(2, DEFAULT_RETRY);
      expect(d).toBeGreaterThanOrEqual(1600);
      expect(d).toBeLessThanOrEqual(2400);
    }
  });

  it("retries transient connector errors only", () => {
    expect(isTransient(new ConnectorError("TIMEOUT", "slow"))).toBe(true);
    expect(isTransient(new ConnectorError("CONNECTION_FAILED", "reset"))).toBe(true);
    expect(isTransient(new ConnectorError("SCHEMA_VIOLATION", "bad"))).toBe(false);
    expect(isTransient(new Error("boom"))).toBe(false);
    expect(errorCode(new ConnectorError("SCHEMA_VIOLATION", "bad"))).toBe("SCHEMA_VIOLATION");
    expect(errorCode(new Error("boom"))).toBe("EXECUTION_FAILED");
  });
});
