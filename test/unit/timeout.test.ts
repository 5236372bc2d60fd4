import { describe, expect, it } from "vitest";
import { withTimeout } from "../../src/util/timeout.ts";

describe("withTimeout", () => {
  it("settles with the work when it finishes first", async () => {
    await expect(withTimeout(Promise.resolve("done"), 1000, () => "late")).resolves.toBe("done");
    await expect(withTimeout(Promise.reject(new Error("broken")), 1000, () => "late")).rejects.toThrow("broken");
  });

  it("settles with onTimeout's value, or its error, when the work is too slow", async () => {
    const never = new Promise<string>(() => {});
    await expect(withTimeout(never, 5, () => "fallback")).resolves.toBe("fallback");
    await expect(
      withTimeout(never, 5, () => {
        throw new Error("too slow");
      }),
    ).rejects.toThrow("too slow");
  });
});
