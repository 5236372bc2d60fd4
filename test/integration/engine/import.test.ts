import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectorObject } from "../../../src/connectors/connector.ts";
import { contentHash } from "../../../src/connectors/content-hash.ts";
import { WORKER_MIN_BYTES } from "../../../src/connectors/csv/rows.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import type { Services } from "../../../src/services.ts";
import { ArrayConnector } from "../../fixtures/array-connector.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

const person = (i: number, extra: Record<string, string> = {}): ConnectorObject => ({
  objectType: "person",
  anchor: `E${String(i).padStart(4, "0")}`,
  attributes: {
    employeeId: `E${String(i).padStart(4, "0")}`,
    givenName: `Given${i}`,
    sn: `Sur${i}`,
    age: String(20 + (i % 40)),
    ...extra,
  },
});

async function system(name: string) {
  const sys = await services.systems.create({ name, kind: "CSV", config: { path: `/tmp/${name}.csv`, anchor: "employeeId" } });
  return sys.id;
}

const csoRows = (systemId: string) =>
  services.db.pool
    .query(
      "SELECT anchor, status, attributes, xmin::text AS xmin FROM connector_space_object WHERE connected_system_id = $1 ORDER BY anchor",
      [systemId],
    )
    .then((r) => r.rows);

/** A full import whose worker dies after `batches` committed batches: the run it leaves behind. */
async function crashedImport(systemId: string, connector: ArrayConnector, batches: number, importBatchSize = 1) {
  await expect(
    runEngine(services, { importBatchSize, systemId, profile: "FULL_IMPORT", connector, crashAfterBatches: batches }),
  ).rejects.toThrow("simulated crash");
  return services.db.prisma.run.findFirstOrThrow({ where: { connectedSystemId: systemId }, orderBy: { createdAt: "desc" } });
}

/** Resume (runId) or start a full import, one batch per connector page unless told otherwise. */
const fullImport = (systemId: string, connector: ArrayConnector, options: { runId?: string; importBatchSize?: number } = {}) =>
  runEngine(services, { importBatchSize: 1, systemId, profile: "FULL_IMPORT", connector, ...options });

// Every test here but the one about merging pages: one batch per connector page (importBatchSize
// 1), so that batch boundaries, crashes between batches and cross-batch duplicates are exact.
describe("full and delta import into connector space", () => {
  it("inserts every object, skips unchanged ones without a row write, updates changed ones, obsoletes unseen ones", async () => {
    const id = await system("hr-full");
    const source = new ArrayConnector(
      Array.from({ length: 250 }, (_, i) => person(i)),
      100,
    );
    const run1 = await fullImport(id, source);
    expect(run1).toMatchObject({ fetched: 250, created: 250, updated: 0, unchanged: 0, deleted: 0, failed: 0 });
    const first = await csoRows(id);
    expect(first).toHaveLength(250);
    expect(
      (
        await services.db.pool.query(
          "SELECT count(DISTINCT x)::int AS n FROM cso_change, unnest(connector_space_object_ids) x WHERE connected_system_id = $1",
          [id],
        )
      ).rows[0].n,
    ).toBe(250);

    // Second import: same data -> no row touched (xmin unchanged).
    const run2 = await fullImport(id, source);
    expect(run2).toMatchObject({ fetched: 250, created: 0, updated: 0, unchanged: 250, deleted: 0 });
    expect((await csoRows(id)).map((r) => r.xmin)).toEqual(first.map((r) => r.xmin));

    // Third: one changed, one gone, one new.
    source.objects = [
      ...source.objects.slice(1, 249).map((o) => (o.anchor === "E0005" ? person(5, { sn: "Changed" }) : o)),
      person(900),
    ];
    const run3 = await fullImport(id, source);
    expect(run3).toMatchObject({ created: 1, updated: 1, deleted: 2, unchanged: 247 });
    const rows = await csoRows(id);
    expect(rows.filter((r) => r.status === "OBSOLETE").map((r) => r.anchor)).toEqual(["E0000", "E0249"]);
    expect(rows.find((r) => r.anchor === "E0005").attributes.sn).toBe("Changed");
    const change = await services.db.prisma.runChange.findFirstOrThrow({ where: { runId: run3.id, changeType: "CSO_UPDATED" } });
    expect(change.attributeChanges).toEqual([{ attribute: "sn", before: "Sur5", after: "Changed" }]);
    expect(await services.db.prisma.importSeenPage.count()).toBe(0);
  });

  it("applies a delta's adds, changes and deletes and stores the watermark", async () => {
    const id = await system("hr-delta");
    const source = new ArrayConnector(
      Array.from({ length: 20 }, (_, i) => person(i)),
      10,
    );
    await fullImport(id, source);
    source.setDelta({ objects: [person(3, { sn: "New" }), person(50)], deletes: [{ objectType: "person", anchor: "E0007" }] });
    const run = await runEngine(services, {
      importBatchSize: 1,
      systemId: id,
      profile: "DELTA_IMPORT",
      connector: source,
    });
    expect(run).toMatchObject({ created: 1, updated: 1, deleted: 1 });
    const rows = await csoRows(id);
    expect(rows.find((r) => r.anchor === "E0007").status).toBe("OBSOLETE");
    expect(rows.find((r) => r.anchor === "E0050").status).toBe("NORMAL");
    const state = await services.db.prisma.connectorImportState.findFirstOrThrow({ where: { connectedSystemId: id } });
    expect(state.watermark).toEqual({ at: "delta" });
  });

  it("records invalid records with a located reason and imports the rest", async () => {
    const id = await system("hr-bad");
    await services.db.prisma.objectType.create({
      data: {
        connectedSystemId: id,
        name: "person",
        anchorAttribute: "employeeId",
        attributes: {
          create: [
            { name: "employeeId", required: true },
            { name: "sn", required: true },
            { name: "age", type: "INTEGER" },
          ],
        },
      },
    });
    const objects = [
      person(1),
      { ...person(2), anchor: "" },
      person(3, { sn: "" }),
      person(4, { age: "old" }),
      person(5),
      person(5),
    ];
    const run = await runEngine(services, {
      importBatchSize: 1,
      systemId: id,
      profile: "FULL_IMPORT",
      connector: new ArrayConnector(objects, 10),
    });
    expect(run).toMatchObject({ fetched: 6, created: 2, failed: 4 });
    const errors = await services.db.prisma.runChange.findMany({
      where: { runId: run.id, changeType: "RECORD_ERROR" },
      orderBy: { id: "asc" },
    });
    expect(errors.map((e) => e.message)).toEqual([
      "missing anchor",
      "required attribute sn is missing",
      'attribute age must be integer, got "old"',
      "anchor E0005 appears more than once",
    ]);
    expect(errors[2]?.location).toBe("person/E0004");
  });

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

  it("pages that change nothing share a batch; a crash after one resumes from its last page, nothing swept", async () => {
    const id = await system("hr-quiet-batches");
    const source = new ArrayConnector(
      Array.from({ length: 50 }, (_, i) => person(i)),
      5,
    );
    const first = await fullImport(id, source);
    expect(first).toMatchObject({ created: 50 });
    const again = await fullImport(id, source);
    expect(again).toMatchObject({ unchanged: 50, created: 0, updated: 0, deleted: 0, failed: 0 });
    // Up to 10 pages' worth of objects (importBatchSize 1 here) a batch: 2 pages of 5.
    expect(again.batch).toBeLessThan(first.batch);
    expect(again.batch).toBeGreaterThanOrEqual(6);

    const crashed = await crashedImport(id, source, 1);
    // Two pages (one if the next page took more than the batch's time budget to come).
    expect(crashed).toMatchObject({ batch: 1, checkpoint: { phase: "import", connector: { index: crashed.unchanged } } });
    expect([5, 10]).toContain(crashed.unchanged);
    expect(await fullImport(id, source, { runId: crashed.id })).toMatchObject({ unchanged: 50, deleted: 0, failed: 0 });
    expect((await csoRows(id)).filter((r) => r.status !== "NORMAL")).toEqual([]);
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

  it("merges connector pages into batches of the configured size, each committing its last page's checkpoint", async () => {
    const id = await system("hr-merged");
    const source = new ArrayConnector(
      Array.from({ length: 500 }, (_, i) => person(i)),
      100,
    );
    // 250 records a batch from 100-object pages: batches of 300, then 200.
    const crashed = await crashedImport(id, source, 1, 250);
    expect(crashed).toMatchObject({ created: 300, batch: 1, checkpoint: { phase: "import", connector: { index: 300 } } });
    const resumed = await fullImport(id, source, { runId: crashed.id, importBatchSize: 250 });
    expect(resumed).toMatchObject({ created: 500, failed: 0 });
    expect(await csoRows(id)).toHaveLength(500);
  });

  it("deleting a connected system deletes its connector space, sync queue and run changes", async () => {
    const id = await system("hr-deleted");
    const run = await runEngine(services, {
      importBatchSize: 1,
      systemId: id,
      profile: "FULL_IMPORT",
      connector: new ArrayConnector([person(1), person(2)]),
    });
    const count = async (sql: string, param: string) => (await services.db.pool.query(sql, [param])).rows[0].n as number;
    const counts = () =>
      Promise.all([
        count("SELECT count(*)::int AS n FROM connector_space_object WHERE connected_system_id = $1", id),
        count("SELECT count(*)::int AS n FROM cso_change WHERE connected_system_id = $1", id),
        count("SELECT count(*)::int AS n FROM run_change WHERE run_id = $1", run.id),
      ]);
    expect(await counts()).toEqual([2, 1, 2]);
    await services.systems.delete(id);
    expect(await counts()).toEqual([0, 0, 0]);
  });

  it("resumes a crashed full import from its checkpoint without duplicates or losses", async () => {
    const id = await system("hr-crash");
    const source = new ArrayConnector(
      Array.from({ length: 500 }, (_, i) => person(i)),
      100,
    );
    const crashed = await crashedImport(id, source, 2);
    expect(crashed.created).toBe(200);
    expect(await fullImport(id, source, { runId: crashed.id })).toMatchObject({ created: 500, failed: 0, deleted: 0 });
    expect(await csoRows(id)).toHaveLength(500);
  });
});

describe("a full import with unreadable records", () => {
  it("infers no deletes: an unreadable row's object must not look deleted", async () => {
    const sys = await services.systems.create({
      name: "hr-partial",
      kind: "CSV",
      config: { path: "/tmp/hr-partial.csv", anchor: "employeeId" },
    });
    const source = new ArrayConnector([person(1), person(2), person(3)], 10);
    await runEngine(services, {
      importBatchSize: 1,
      systemId: sys.id,
      profile: "FULL_IMPORT",
      connector: source,
    });
    source.objects = [person(1), { ...person(2), anchor: "" }];
    const run = await runEngine(services, {
      importBatchSize: 1,
      systemId: sys.id,
      profile: "FULL_IMPORT",
      connector: source,
    });
    expect(run).toMatchObject({ failed: 1, deleted: 0 });
    expect((await csoRows(sys.id)).every((r) => r.status === "NORMAL")).toBe(true);
  });
});

describe("a CSV file read in the connector's worker thread", () => {
  it("imports, re-imports unchanged and applies a delta with the hashes the worker computed", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "metasync-import-csv-"));
    try {
      const file = path.join(dir, "people.csv");
      const rows = (n: number, changed = new Set<number>()) =>
        ["employeeId,givenName,sn,mail,department"]
          .concat(
            Array.from({ length: n }, (_, i) => `E${i},Given${i},Sur${i},p${i}@example.org,D${changed.has(i) ? 99 : i % 20}`),
          )
          .join("\n") + "\n";
      writeFileSync(file, rows(25_000));
      expect(statSync(file).size).toBeGreaterThanOrEqual(WORKER_MIN_BYTES);
      const sys = await services.systems.create({
        name: "hr-big-csv",
        kind: "CSV",
        config: { path: file, anchor: "employeeId" },
      });
      const csv = () => createConnector("CSV", { path: file, anchor: "employeeId" }, { logger: services.logger });
      const run = async (profile: "FULL_IMPORT" | "DELTA_IMPORT") =>
        runEngine(services, { systemId: sys.id, profile, connector: await csv() });

      expect(await run("FULL_IMPORT")).toMatchObject({ created: 25_000, failed: 0 });
      // The stored hash is the engine's own hash of the stored attributes.
      const { rows: sample } = await services.db.pool.query(
        "SELECT attributes, content_hash FROM connector_space_object WHERE connected_system_id = $1 AND anchor = ANY($2)",
        [sys.id, ["E0", "E12345", "E24999"]],
      );
      expect(sample).toHaveLength(3);
      for (const r of sample) expect(r.content_hash).toBe(contentHash(r.attributes));
      expect(await run("FULL_IMPORT")).toMatchObject({ created: 0, updated: 0, unchanged: 25_000, deleted: 0 });

      // Three rows change, the last one goes, a new one comes: a delta finds exactly those.
      writeFileSync(file, rows(24_999, new Set([1, 2, 3])) + "E30000,New,Person,n@example.org,D1\n");
      expect(await run("DELTA_IMPORT")).toMatchObject({ created: 1, updated: 3, deleted: 1, failed: 0 });
      const { rows: changed } = await services.db.pool.query(
        "SELECT anchor, status, attributes->>'department' AS department FROM connector_space_object WHERE connected_system_id = $1 AND anchor IN ('E1', 'E24999', 'E30000') ORDER BY anchor",
        [sys.id],
      );
      expect(changed).toEqual([
        { anchor: "E1", status: "NORMAL", department: "D99" },
        { anchor: "E24999", status: "OBSOLETE", department: "D19" },
        { anchor: "E30000", status: "NORMAL", department: "D1" },
      ]);
      // The deleted row comes back unchanged: stored obsolete, so the delta sends it again.
      writeFileSync(file, rows(25_000, new Set([1, 2, 3])) + "E30000,New,Person,n@example.org,D1\n");
      expect(await run("DELTA_IMPORT")).toMatchObject({ created: 0, updated: 1, deleted: 0, failed: 0 });
      const { rows: revived } = await services.db.pool.query(
        "SELECT status FROM connector_space_object WHERE connected_system_id = $1 AND anchor = 'E24999'",
        [sys.id],
      );
      expect(revived).toEqual([{ status: "NORMAL" }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
