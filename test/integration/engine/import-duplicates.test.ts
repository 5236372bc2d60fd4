import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../../src/services.ts";
import { ArrayConnector } from "../../fixtures/array-connector.ts";
import { importHarness, person } from "../../helpers/import-harness.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// An anchor met twice in one full import is a located DUPLICATE_ANCHOR error wherever the two
// meet: the same page, a later page, a page written earlier, or before a crash and after it.
let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

const { system, csoRows, crashedImport, fullImport } = importHarness(() => services);

describe("duplicate anchors in a full import", () => {
  it("flags an anchor already seen in an earlier page of the same full import as a duplicate", async () => {
    const id = await system("hr-cross-page-duplicate");
    const source = new ArrayConnector([person(1), person(2), person(3)], 2);
    await fullImport(id, source);
    // Re-import: E0001 again in the second page, after the first page saw the stored object.
    source.objects = [person(1), person(2), person(1, { sn: "Again" }), person(3)];
    const run = await fullImport(id, source);
    expect(run).toMatchObject({ fetched: 4, unchanged: 3, updated: 0, failed: 1, deleted: 0 });
    const errors = await services.db.prisma.runChange.findMany({ where: { runId: run.id, changeType: "RECORD_ERROR" } });
    expect(errors.map((e) => [e.errorCode, e.anchor])).toEqual([["DUPLICATE_ANCHOR", "E0001"]]);
    expect((await csoRows(id)).map((r) => [r.anchor, r.status, r.attributes.sn])).toEqual([
      ["E0001", "NORMAL", "Sur1"],
      ["E0002", "NORMAL", "Sur2"],
      ["E0003", "NORMAL", "Sur3"],
    ]);
  });

  it("a first import (empty connector space, no lookups) still flags an anchor met again in the next or a later page", async () => {
    const id = await system("hr-first-import-duplicates");
    // Pages of 2: E0001 again in the next page (read ahead while the first is written), E0002
    // again two pages later.
    const source = new ArrayConnector(
      [person(1), person(2), person(3), person(1, { sn: "Again" }), person(4), person(2, { sn: "Again" })],
      2,
    );
    const run = await fullImport(id, source);
    expect(run).toMatchObject({ fetched: 6, created: 4, updated: 0, unchanged: 0, failed: 2, deleted: 0 });
    const errors = await services.db.prisma.runChange.findMany({
      where: { runId: run.id, changeType: "RECORD_ERROR" },
      orderBy: { id: "asc" },
    });
    expect(errors.map((e) => [e.errorCode, e.anchor])).toEqual([
      ["DUPLICATE_ANCHOR", "E0001"],
      ["DUPLICATE_ANCHOR", "E0002"],
    ]);
    expect((await csoRows(id)).map((r) => [r.anchor, r.status, r.attributes.sn])).toEqual([
      ["E0001", "NORMAL", "Sur1"],
      ["E0002", "NORMAL", "Sur2"],
      ["E0003", "NORMAL", "Sur3"],
      ["E0004", "NORMAL", "Sur4"],
    ]);
  });

  it("flags a duplicate of an object created or updated earlier in the same full import, and sweeps only the unseen", async () => {
    const id = await system("hr-written-duplicate");
    const source = new ArrayConnector([person(1), person(2), person(3)], 2);
    await fullImport(id, source);
    // E0002 changes (updated in page 1) and E0004 is new (created in page 1); both come again in
    // page 2. E0003 is not in the source any more.
    source.objects = [person(2, { sn: "Changed" }), person(4), person(2, { sn: "Other" }), person(4, { sn: "Other" }), person(1)];
    const run = await fullImport(id, source);
    expect(run).toMatchObject({ fetched: 5, created: 1, updated: 1, unchanged: 1, failed: 2 });
    const errors = await services.db.prisma.runChange.findMany({ where: { runId: run.id, changeType: "RECORD_ERROR" } });
    expect(errors.map((e) => [e.errorCode, e.anchor])).toEqual([
      ["DUPLICATE_ANCHOR", "E0002"],
      ["DUPLICATE_ANCHOR", "E0004"],
    ]);
    // Records failed, so nothing is inferred deleted; the first occurrence of each anchor won.
    expect((await csoRows(id)).map((r) => [r.anchor, r.status, r.attributes.sn])).toEqual([
      ["E0001", "NORMAL", "Sur1"],
      ["E0002", "NORMAL", "Changed"],
      ["E0003", "NORMAL", "Sur3"],
      ["E0004", "NORMAL", "Sur4"],
    ]);
    // A clean full import then sweeps exactly the object it did not see, whether the others
    // were written by it (E0002 changed back, E0005 new) or left unchanged (E0001, E0004).
    source.objects = [person(1), person(2), person(4), person(5)];
    const clean = await fullImport(id, source);
    expect(clean).toMatchObject({ fetched: 4, created: 1, updated: 1, unchanged: 2, deleted: 1, failed: 0 });
    expect((await csoRows(id)).filter((r) => r.status === "OBSOLETE").map((r) => r.anchor)).toEqual(["E0003"]);
  });

  it("a resumed full import still knows what it saw before the crash: duplicates flagged, nothing swept", async () => {
    const id = await system("hr-resume-seen");
    const source = new ArrayConnector(
      Array.from({ length: 6 }, (_, i) => person(i)),
      2,
    );
    await fullImport(id, source);
    // E0000 is unchanged: what the first batch saw lives in import_seen_page, not in the rows.
    // (E0001 changes: a batch that writes nothing would go on with the next pages.)
    source.objects = [person(0), person(1, { sn: "Changed" }), person(2), person(3), person(0), person(4), person(5)];
    const crashed = await crashedImport(id, source, 1);
    expect(crashed).toMatchObject({ unchanged: 1, updated: 1 });
    expect(await fullImport(id, source, { runId: crashed.id })).toMatchObject({
      unchanged: 5,
      updated: 1,
      failed: 1,
      deleted: 0,
    });
    const errors = await services.db.prisma.runChange.findMany({ where: { runId: crashed.id, changeType: "RECORD_ERROR" } });
    expect(errors.map((e) => [e.errorCode, e.anchor])).toEqual([["DUPLICATE_ANCHOR", "E0000"]]);
    expect(await services.db.prisma.importSeenPage.count({ where: { runId: crashed.id } })).toBe(0);

    // Without a duplicate the sweep runs: E0004 is gone from the source, and E0000, seen
    // unchanged before the crash, and E0001, changed back then, are kept.
    source.objects = [person(0), person(1), person(2), person(3), person(5)];
    const second = await crashedImport(id, source, 1);
    expect(await fullImport(id, source, { runId: second.id })).toMatchObject({ unchanged: 4, updated: 1, failed: 0, deleted: 1 });
    expect((await csoRows(id)).filter((r) => r.status !== "NORMAL").map((r) => r.anchor)).toEqual(["E0004"]);
  });
});
