import { describe, expect, it } from "vitest";
import { canonicalJson, sameJson } from "../../src/util/canonical-json.ts";

const values: unknown[] = [
  null,
  "a",
  "1",
  1,
  true,
  [],
  ["a", "b"],
  ["b", "a"],
  ["a", "b", "c"],
  [1, "1"],
  ["1", 1],
  {},
  { a: 1, b: [1, 2] },
  { b: [1, 2], a: 1 },
  { a: 1, b: [2, 1] },
  { a: 1, b: [1, 2], c: undefined },
  { a: 1 },
  { a: 1, constructor: "x" },
  { a: 1, toString: "x" },
  [{ x: 1, y: 2 }],
  [{ y: 2, x: 1 }],
  [{ x: 1, y: 3 }],
  { nested: { deep: ["v", { k: "w" }] } },
  { nested: { deep: ["v", { k: "z" }] } },
  new Date("2026-01-01T00:00:00Z"),
  "2026-01-01T00:00:00.000Z",
];

describe("sameJson", () => {
  it("agrees with comparing canonical JSON for every pair of values", () => {
    for (const a of values)
      for (const b of values) expect([a, b, sameJson(a, b)]).toEqual([a, b, canonicalJson(a) === canonicalJson(b)]);
  });

  it("compares long lists value by value", () => {
    const members = Array.from({ length: 100_000 }, (_, i) => `E${i}`);
    expect(sameJson(members, [...members])).toBe(true);
    const moved = [...members];
    moved[99_999] = "E-moved";
    expect(sameJson({ members }, { members: moved })).toBe(false);
  });
});
