import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentHash } from "../../../src/connectors/content-hash.ts";
import { WORKER_MIN_BYTES } from "../../../src/connectors/csv/rows.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import type { Services } from "../../../src/services.ts";
import { ArrayConnector } from "../../fixtures/array-connector.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { importHarness, person } from "../../helpers/import-harness.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

const { system, csoRows, fullImport } = importHarness(() => services);

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
