import { describe, expect, it } from "vitest";
import { NumberSet } from "../../src/util/number-set.ts";

describe("NumberSet", () => {
  it("holds what was added, and only that, across growth and at the range's ends", () => {
    const set = new NumberSet();
    const members: number[] = [0, 1, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER];
    // Values colliding in their low bits probe past each other.
    for (let i = 0; i < 5000; i++) members.push(i * 2 ** 40 + 7, Math.floor(Math.random() * 2 ** 53));
    for (const m of members) set.add(m);
    for (const m of members) set.add(m);
    expect(set.size).toBe(new Set(members).size);
    for (const m of members) expect(set.has(m)).toBe(true);
    const expected = new Set(members);
    for (const probe of [3, 2 ** 32 + 2, 5 * 2 ** 40 + 8, Number.MAX_SAFE_INTEGER - 1])
      expect(set.has(probe)).toBe(expected.has(probe));
  });

  it("refuses what it cannot hold exactly", () => {
    const set = new NumberSet();
    expect(() => set.add(-1)).toThrow(RangeError);
    expect(() => set.add(2 ** 53)).toThrow(RangeError);
    expect(() => set.add(1.5)).toThrow(RangeError);
  });
});
