import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { createConnector } from "../../../src/connectors/index.ts";
import { createExportExecutor } from "../../../src/engine/outbound/run-export.ts";
import { createSyncExecutor } from "../../../src/engine/sync/run-sync.ts";
import type { Services } from "../../../src/services.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { person, sourceSystem } from "../../helpers/sync-fixtures.ts";

// The breaker is judged after every planning batch on the run's figures so far: the batch that
// crosses a limit holds the exports of the batches before it, every later batch's are held too,
// and a run resumed after a crash holds the same way.
let services: Services;
beforeEach(async () => {
  services = await createTestServices();
  return () => closeTestServices(services);
});

const PEOPLE = Array.from({ length: 20 }, (_, i) => person(`E${i}`, { givenName: `Given${i}` }));

async function setup() {
  const hr = await sourceSystem(services, "hr", PEOPLE, {
    projectToMetaverse: true,
    joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
    attributeFlows: [
      { target: "employeeId", source: "id" },
      { target: "givenName", source: "givenName" },
    ],
  });
  const targetConfig = { path: path.join(mkdtempSync(path.join(tmpdir(), "metasync-breaker-")), "target.csv"), anchor: "id" };
  const target = await services.systems.create({
    name: "target",
    kind: "CSV",
    config: targetConfig,
    breaker: { maxCreates: 7 },
  });
  await services.syncRules.create({
    name: "target-out",
    connectedSystemId: target.id,
    direction: "OUTBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    provisionToConnector: true,
    attributeFlows: [{ target: "id", source: "employeeId" }],
  });
  await hr.run("FULL_IMPORT");
  const sync = (extra: { crashAfterBatches?: number; runId?: string; dryRun?: boolean } = {}) =>
    runEngine(services, {
      systemId: hr.id,
      profile: "FULL_SYNC",
      executor: createSyncExecutor("full", { batchSize: 5 }),
      ...extra,
    });
  const statuses = async () =>
    (
      await services.db.prisma.pendingExport.groupBy({ by: ["status"], where: { connectedSystemId: target.id }, _count: true })
    ).map((r) => [r.status, r._count]);
  const exportRun = async () =>
    runEngine(services, {
      connector: await createConnector("CSV", targetConfig, { logger: services.logger, fileRoots: [tmpdir()] }),
      systemId: target.id,
      profile: "EXPORT",
      executor: createExportExecutor({ batchSize: 50, retryBaseMs: 10 }),
    });
  return { sync, statuses, exportRun, targetId: target.id };
}

describe("mass-change breaker across planning batches", () => {
  it("the second batch of 5 crosses maxCreates 7: the first batch's exports and every later one are held, one event", async () => {
    const { sync, statuses } = await setup();
    const run = await sync();
    expect(await statuses()).toEqual([["AWAITING_APPROVAL", 20]]);
    const hold = await services.db.prisma.breakerHold.findFirstOrThrow({ where: { runId: run.id } });
    expect(hold).toMatchObject({ held: 20, reason: "mass-change breaker: 10 creates > maxCreates 7" });
    expect(hold.figures).toMatchObject({ creates: 20 });
    const events = await services.db.prisma.runEvent.findMany({ where: { runId: run.id, type: "run.breaker_held" } });
    expect(events.map((e) => e.data)).toEqual([
      expect.objectContaining({ held: 10, figures: expect.objectContaining({ creates: 10 }) }),
    ]);
  });

  it("a run resumed after a crash before the crossing reads its figures back and holds everything", async () => {
    const { sync, statuses } = await setup();
    // Due deletions, then one batch of 5: committed, under the limit, PENDING.
    await expect(sync({ crashAfterBatches: 2 })).rejects.toThrow("simulated crash");
    expect(await statuses()).toEqual([["PENDING", 5]]);
    const crashed = await services.db.prisma.run.findFirstOrThrow({ where: { profile: "FULL_SYNC" } });
    await sync({ runId: crashed.id });
    expect(await statuses()).toEqual([["AWAITING_APPROVAL", 20]]);
    const hold = await services.db.prisma.breakerHold.findFirstOrThrow({ where: { runId: crashed.id } });
    expect(hold.reason).toBe("mass-change breaker: 10 creates > maxCreates 7");
  });

  it("an export run while the planning run is unfinished sends none of its exports, so a later crossing still holds them all", async () => {
    const { sync, statuses, exportRun } = await setup();
    await expect(sync({ crashAfterBatches: 2 })).rejects.toThrow("simulated crash");
    expect(await statuses()).toEqual([["PENDING", 5]]);
    // The crashed run is still RUNNING (until recovery hands it back): its 5 exports are not due.
    const sent = await exportRun();
    expect(sent.status).toBe("COMPLETED");
    expect(await statuses()).toEqual([["PENDING", 5]]);
    const crashed = await services.db.prisma.run.findFirstOrThrow({ where: { profile: "FULL_SYNC" } });
    await sync({ runId: crashed.id });
    expect(await statuses()).toEqual([["AWAITING_APPROVAL", 20]]);
  });

  it("a dry run holds nothing and writes nothing, and says the breaker would hold, with the figures", async () => {
    const { sync, statuses, targetId } = await setup();
    const run = await sync({ dryRun: true });
    expect(await statuses()).toEqual([]);
    expect(await services.db.prisma.breakerHold.count()).toBe(0);
    const events = await services.db.prisma.runEvent.findMany({ where: { runId: run.id, type: "run.breaker_would_hold" } });
    expect(events.map((e) => e.data)).toEqual([
      expect.objectContaining({
        connectedSystemId: targetId,
        reason: "mass-change breaker: 10 creates > maxCreates 7",
        figures: expect.objectContaining({ creates: 10 }),
      }),
    ]);
  });
});
