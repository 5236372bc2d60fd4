import { describe, expect, it } from "vitest";
import { readAhead } from "../../src/util/read-ahead.ts";

describe("readAhead", () => {
  it("reads one element ahead, in order, and closes the source when the consumer stops early", async () => {
    const pulled: number[] = [];
    let closed = false;
    async function* source() {
      try {
        for (let i = 0; i < 10; i++) {
          pulled.push(i);
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    const seen: number[] = [];
    for await (const x of readAhead(source(), (i) => i * 10)) {
      seen.push(x);
      await new Promise((r) => setTimeout(r, 5));
      // While the consumer works on element x, element x + 1 is already read.
      expect(pulled).toContain(x / 10 + 1);
      if (x === 30) break;
    }
    expect(seen).toEqual([0, 10, 20, 30]);
    await new Promise((r) => setTimeout(r, 5));
    expect(closed).toBe(true);
  });
});
