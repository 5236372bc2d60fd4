import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../../src/services.ts";
import { ArrayConnector } from "../../fixtures/array-connector.ts";
import { importHarness, person } from "../../helpers/import-harness.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// How a full import cuts connector pages into batches, and resumes from the last committed one.
let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

const { system, csoRows, crashedImport, fullImport } = importHarness(() => services);

describe("full import batches and resume", () => {
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
