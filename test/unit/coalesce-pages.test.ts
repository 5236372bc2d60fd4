import { describe, expect, it } from "vitest";
import type { ImportPage } from "../../src/connectors/connector.ts";
import { coalescePages } from "../../src/engine/import/coalesce.ts";

const page = (n: number, from: number, extra: Partial<ImportPage> = {}): ImportPage => ({
  objects: Array.from({ length: n }, (_, i) => ({ objectType: "person", anchor: `E${from + i}`, attributes: {} })),
  deletes: [],
  errors: [],
  checkpoint: { after: from + n },
  ...extra,
});

async function* pages(...list: ImportPage[]) {
  yield* list;
}

const collect = async (it: AsyncIterable<ImportPage>) => {
  const out: ImportPage[] = [];
  for await (const x of it) out.push(x);
  return out;
};

describe("coalescePages", () => {
  it("merges pages up to the batch size, each batch carrying its last page's checkpoint and watermark", async () => {
    const batches = await collect(
      coalescePages(pages(page(3, 0), page(3, 3), page(3, 6), page(2, 9, { watermark: { w: 1 }, total: 11 })), 5),
    );
    expect(batches.map((b) => b.objects.map((o) => o.anchor))).toEqual([
      ["E0", "E1", "E2", "E3", "E4", "E5"],
      ["E6", "E7", "E8", "E9", "E10"],
    ]);
    expect(batches.map((b) => b.checkpoint)).toEqual([{ after: 6 }, { after: 11 }]);
    expect(batches[1]).toMatchObject({ watermark: { w: 1 }, total: 11 });
  });

  it("merges pages of deletes alone with each other, up to the batch size", async () => {
    const del = (anchors: string[], checkpoint: string) =>
      page(0, 0, { deletes: anchors.map((anchor) => ({ objectType: "person", anchor })), checkpoint });
    const batches = await collect(
      coalescePages(pages(page(2, 0), del(["X1", "X2"], "d1"), del(["X3"], "d2"), del(["X4", "X5"], "d3"), del(["X6"], "d4")), 4),
    );
    expect(batches.map((b) => [b.objects.length, b.deletes.map((d) => d.anchor), b.checkpoint])).toEqual([
      [2, [], { after: 2 }],
      [0, ["X1", "X2", "X3", "X4", "X5"], "d3"],
      [0, ["X6"], "d4"],
    ]);
  });

  it("never merges a page with deletes with one with adds, so deletes stay ordered after earlier adds", async () => {
    const del = page(0, 0, { deletes: [{ objectType: "person", anchor: "E0" }], checkpoint: "d" });
    const batches = await collect(coalescePages(pages(page(1, 0), del, page(1, 1)), 100));
    expect(batches.map((b) => [b.objects.length, b.deletes.length, b.checkpoint])).toEqual([
      [1, 0, { after: 1 }],
      [0, 1, "d"],
      [1, 0, { after: 2 }],
    ]);
  });
});
