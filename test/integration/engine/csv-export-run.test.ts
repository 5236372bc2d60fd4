import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import type { Connector, ExportSession } from "../../../src/connectors/connector.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import { createExportExecutor } from "../../../src/engine/outbound/run-export.ts";
import { claimReadyExports } from "../../../src/engine/pending-export/execution.ts";
import type { Services } from "../../../src/services.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { person, sourceSystem } from "../../helpers/sync-fixtures.ts";

const dir = mkdtempSync(path.join(tmpdir(), "metasync-csv-export-run-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let services: Services;
beforeEach(async () => {
  services = await createTestServices();
  return () => closeTestServices(services);
});

const PEOPLE = 120;
const BATCH = 10;
let fileCount = 0;

/** 120 people from HR, provisioned to a CSV file that does not exist yet, exported in batches of 10. */
async function setup() {
  const people = Array.from({ length: PEOPLE }, (_, i) => person(`E${String(i).padStart(3, "0")}`, { givenName: `P${i}` }));
  const hr = await sourceSystem(services, "hr", people, {
    projectToMetaverse: true,
    joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
    attributeFlows: [
      { target: "employeeId", source: "id" },
      { target: "givenName", source: "givenName" },
    ],
  });
  const file = path.join(dir, `accounts-${++fileCount}.csv`);
  const config = { path: file, anchor: "id" };
  const target = await services.systems.create({ name: "accounts", kind: "CSV", config, breaker: { enabled: false } });
  await services.db.prisma.syncRule.create({
    data: {
      name: "accounts-out",
      connectedSystemId: target.id,
      direction: "OUTBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      provisionToConnector: true,
      attributeFlows: [
        { target: "id", source: "employeeId" },
        { target: "name", source: "givenName" },
      ],
    } as never,
  });
  await hr.importAndSync();
  const csv = await createConnector("CSV", config, { logger: pino({ level: "silent" }) });
  const exportRun = (connector: Connector, extra: { crashAfterBatches?: number; runId?: string } = {}) =>
    runEngine(services, {
      systemId: target.id,
      profile: "EXPORT",
      executor: createExportExecutor({ batchSize: BATCH, retryBaseMs: 10 }),
      connector,
      ...extra,
    });
  const statuses = async () => {
    const rows = await services.db.prisma.pendingExport.findMany({ where: { connectedSystemId: target.id } });
    return rows.map((r) => ({
      status: r.status,
      id: String((r.attributeChanges as { attribute: string; values: string[] }[]).find((c) => c.attribute === "id")?.values[0]),
    }));
  };
  const fileIds = () =>
    readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .slice(1)
      .map((line) => line.split(",")[0]!);
  return { file, csv, target, exportRun, statuses, fileIds };
}

/** The connector, noting the target file's size after every call that may write it. */
function watched(csv: Connector, file: string, sizes: number[]): Connector {
  const note = () => sizes.push(statSync(file, { throwIfNoEntry: false })?.size ?? 0);
  const open = csv.openExportSession?.bind(csv);
  return {
    ...csv,
    export: async (changes) => {
      const results = await csv.export(changes);
      note();
      return results;
    },
    openExportSession: open
      ? (): ExportSession => {
          const session = open();
          return {
            export: (changes) => session.export(changes),
            get commitDue() {
              return session.commitDue;
            },
            commit: async () => {
              await session.commit();
              note();
            },
            abort: () => session.abort(),
          };
        }
      : undefined,
  };
}

describe("EXPORT to a CSV file", () => {
  it("writes the file a few times per run, not once per batch, and the next import confirms every row", async () => {
    const { file, csv, target, exportRun, statuses, fileIds } = await setup();
    const sizes: number[] = [];
    const run = await exportRun(watched(csv, file, sizes));
    expect(run).toMatchObject({ created: PEOPLE, failed: 0 });
    // 12 batches; a rewrite per batch copied the growing file 12 times. Written when the changes
    // since the last write reach the file's rows: after 10, 20, 40, 80 and 120 rows.
    const writes = new Set(sizes).size;
    expect(writes).toBeLessThanOrEqual(5);
    expect(fileIds().sort()).toEqual((await statuses()).map((s) => s.id).sort());
    expect(new Set((await statuses()).map((s) => s.status))).toEqual(new Set(["EXPORTED"]));
    const confirm = await runEngine(services, { systemId: target.id, profile: "FULL_IMPORT", connector: csv });
    expect(confirm.failed).toBe(0);
    expect(new Set((await statuses()).map((s) => s.status))).toEqual(new Set(["CONFIRMED"]));
  });

  it("a run stopped between batches: the file holds what is recorded EXPORTED, the rest is PENDING and the resumed run finishes", async () => {
    const { csv, target, exportRun, statuses, fileIds } = await setup();
    const stopped = exportRun(csv, { crashAfterBatches: 9 });
    await expect(stopped).rejects.toThrow("simulated crash");
    const runId = (await services.db.prisma.run.findFirstOrThrow({ where: { profile: "EXPORT" } })).id;
    const after = await statuses();
    const inFile = new Set(fileIds());
    const exported = after.filter((s) => s.status === "EXPORTED").map((s) => s.id);
    const pending = after.filter((s) => s.status === "PENDING").map((s) => s.id);
    // Committed and not yet recorded (a crash while storing their outcome) stay EXECUTING: in the file.
    const executing = after.filter((s) => s.status === "EXECUTING").map((s) => s.id);
    expect(exported.length).toBeGreaterThan(0);
    expect(pending.length).toBeGreaterThan(0);
    expect(exported.length + pending.length + executing.length).toBe(PEOPLE);
    for (const id of exported) expect(inFile.has(id)).toBe(true);
    for (const id of pending) expect(inFile.has(id)).toBe(false);
    for (const id of executing) expect(inFile.has(id)).toBe(true);
    expect(inFile.size).toBe(exported.length + executing.length);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);

    // A claim the stopped run made just before it stopped: taken, never sent.
    const claimedBeforeStop = (await claimReadyExports(services.db.pool, target.id, runId, 3)).map(
      (e) => e.attributeChanges.find((c) => c.attribute === "id")?.values[0],
    );
    expect(claimedBeforeStop).toHaveLength(3);
    await exportRun(csv, { runId });
    expect(new Set((await statuses()).map((s) => s.status))).toEqual(new Set(["EXPORTED"]));
    const ids = fileIds();
    expect(ids).toHaveLength(PEOPLE);
    expect(new Set(ids).size).toBe(PEOPLE);
    for (const id of claimedBeforeStop) expect(ids).toContain(id);
  });
});
