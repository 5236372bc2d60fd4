import { describe, expect, it } from "vitest";
import { RowIndex } from "../../src/connectors/csv/row-index.ts";

// The export session's index of a CSV file: rows by slot, found by their anchor's hashes.
describe("CSV row index", () => {
  it("finds every row of a large file by its anchor through growth, and nothing for an anchor it lacks", () => {
    const index = new RowIndex();
    const n = 50_000;
    for (let i = 0; i < n; i++) index.add(`E${i}`, i * 10, i * 10 + 10);
    index.finish(n * 10 + 8, 0, true);
    expect(index.count).toBe(n);
    for (let i = 0; i < n; i += 7) expect(index.candidates(`E${i}`)).toEqual([i]);
    expect(index.candidates("E50000")).toEqual([]);
    expect(index.candidates("e1")).toEqual([]);
    expect(index.range(12_345)).toEqual({ start: 123_450, end: 123_460 });
  });

  it("gives both rows of a repeated anchor, first row first, and counts from the byte order mark", () => {
    const index = new RowIndex();
    index.add("1", 8, 14);
    index.add("2", 14, 20);
    index.add("1", 20, 26);
    index.finish(29, 3, false);
    expect(index.candidates("1")).toEqual([0, 2]);
    expect(index.range(2)).toEqual({ start: 23, end: 29 });
    expect([...index.rows()].map((r) => r.slot)).toEqual([0, 1, 2]);
  });

  it("after a rewrite: dropped rows are gone, moved rows are where the rewrite put them, appended rows are found", () => {
    const index = new RowIndex();
    for (let i = 0; i < 3; i++) index.add(`A${i}`, i * 5, i * 5 + 5);
    index.finish(15, 0, true);
    // A1 dropped, A2 moved up, A3 appended.
    index.relocate(Float64Array.from([0, 5, -1, -1, 5, 10]), [{ anchor: "A3", start: 10, end: 16 }], 16, true);
    expect(index.count).toBe(3);
    expect(index.candidates("A1")).toEqual([]);
    expect(index.range(index.candidates("A2")[0]!)).toEqual({ start: 5, end: 10 });
    expect(index.candidates("A3")).toEqual([3]);
    expect([...index.rows()].map((r) => [r.slot, r.start])).toEqual([
      [0, 0],
      [2, 5],
      [3, 10],
    ]);
  });
});
