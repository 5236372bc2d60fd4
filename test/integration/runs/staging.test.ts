import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId, runToEnd, waitForRun } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// Staging mode, as Entra Connect's: imports and syncs plan exports, nothing reaches the target
// until staging is off. Through GraphQL, the start gate and a real worker, with a real CSV target.
const dir = mkdtempSync(path.join(tmpdir(), "metasync-staging-"));
const hrFile = path.join(dir, "hr.csv");
const targetFile = path.join(dir, "out", "accounts.csv");
let app: TestApp;
let worker: WorkerHandle | null = null;

const START = `mutation($i: StartRunInput!) { startRun(input: $i) { outcome reasonCode reason nextSteps run { id status } } }`;
const UPDATE = `mutation($id: ID!, $i: ConnectedSystemInput!) { updateConnectedSystem(id: $id, input: $i) { staging } }`;
const start = async (connectedSystemId: string, profile: string, dryRun = false) =>
  (await ok(app, START, { i: { connectedSystemId, profile, dryRun } })).startRun;
const pending = async (systemId: string) =>
  app.services.db.prisma.pendingExport.groupBy({ by: ["status"], where: { connectedSystemId: systemId }, _count: true });

beforeAll(async () => {
  writeFileSync(hrFile, "employeeId,givenName,sn\nE1,Ada,Lovelace\nE2,Alan,Turing\n");
  mkdirSync(path.dirname(targetFile));
  app = await startTestApp(await createTestServices({}, { runOptions: FAST_RUN_OPTIONS }));
  worker = await startWorker({ services: app.services, executors: defaultExecutors, scheduler: false });
});
afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  rmSync(dir, { recursive: true, force: true });
});

async function systems(stagingTarget: boolean) {
  const create = async (i: Record<string, unknown>) => rawId((await ok(app, CREATE_SYSTEM, { i })).createConnectedSystem.id);
  const hr = await create({ name: "hr", kind: "CSV", config: { path: hrFile, anchor: "employeeId" } });
  await ok(app, REFRESH, { id: hr });
  const accounts = await create({
    name: "accounts",
    kind: "CSV",
    config: { path: targetFile, anchor: "id" },
    staging: stagingTarget,
  });
  const rule = (i: Record<string, unknown>) =>
    ok(app, CREATE_RULE, { i: { objectType: "person", metaverseObjectType: "person", ...i } });
  await rule({
    name: "hr-in",
    connectedSystemId: hr,
    direction: "INBOUND",
    projectToMetaverse: true,
    joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
    attributeFlows: ["employeeId", "givenName", "sn"].map((a) => ({ target: a, source: a })),
  });
  await rule({
    name: "accounts-out",
    connectedSystemId: accounts,
    direction: "OUTBOUND",
    provisionToConnector: true,
    attributeFlows: [
      { target: "id", source: "employeeId" },
      { target: "displayName", expression: "givenName & ' ' & sn" },
    ],
  });
  await ok(app, REFRESH, { id: accounts });
  return { hr, accounts };
}

describe("staging mode", () => {
  it("plans exports but sends none until staging is off; a dry run previews, an update that leaves it out keeps it", async () => {
    const { hr, accounts } = await systems(true);
    // The config as refreshSchema left it (with the header the first export creates the file with).
    const input = { name: "accounts", kind: "CSV", config: { path: targetFile, anchor: "id", columns: ["id", "displayName"] } };
    expect((await ok(app, '{ connectedSystem(name: "accounts") { staging } }')).connectedSystem.staging).toBe(true);

    await runToEnd(app, hr, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, hr, "FULL_SYNC", { expect: "COMPLETED" });
    expect(await pending(accounts)).toEqual([{ status: "PENDING", _count: 2 }]);

    // EXPORT is refused before anything is queued, saying why and what to do.
    const refused = await start(accounts, "EXPORT");
    expect(refused).toMatchObject({ outcome: "BLOCKED", reasonCode: "STAGING", run: { status: "BLOCKED" } });
    expect(refused.reason).toContain("2 waiting");
    expect(refused.nextSteps.join(" ")).toContain("pendingExports");
    expect(refused.nextSteps.join(" ")).toContain("staging: false");

    // A dry run is how staging is reviewed: it records what would be sent and sends nothing.
    const preview = await start(accounts, "EXPORT", true);
    expect(preview.outcome).toBe("ACCEPTED");
    await waitForRun(app, preview.run.id, "COMPLETED");
    const wouldExport = await app.services.db.prisma.runChange.count({
      where: { runId: rawId(preview.run.id), changeType: "WOULD_EXPORT" },
    });
    expect(wouldExport).toBe(2);
    expect(existsSync(targetFile)).toBe(false);

    // An update that does not mention staging must not release the exports by accident.
    expect((await ok(app, UPDATE, { id: accounts, i: { ...input, description: "HR accounts" } })).updateConnectedSystem).toEqual({
      staging: true,
    });
    expect((await start(accounts, "EXPORT")).reasonCode).toBe("STAGING");
    expect(await pending(accounts)).toEqual([{ status: "PENDING", _count: 2 }]);

    // Off: the next export sends what waited.
    expect((await ok(app, UPDATE, { id: accounts, i: { ...input, staging: false } })).updateConnectedSystem).toEqual({
      staging: false,
    });
    expect(await runToEnd(app, accounts, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ created: 2, failed: 0 });
    const [header, ...rows] = readFileSync(targetFile, "utf8").trimEnd().split("\n");
    expect(header).toBe("id,displayName");
    expect(rows.sort()).toEqual(["E1,Ada Lovelace", "E2,Alan Turing"]);
  });

  it("an export accepted before staging was turned on fails as STAGING at its start and sends nothing", async () => {
    const accounts = rawId((await ok(app, '{ connectedSystem(name: "accounts") { id } }')).connectedSystem.id);
    writeFileSync(hrFile, "employeeId,givenName,sn\nE1,Ada,Lovelace\nE2,Alan,Turing\nE3,Grace,Hopper\n");
    const hr = rawId((await ok(app, '{ connectedSystem(name: "hr") { id } }')).connectedSystem.id);
    await runToEnd(app, hr, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, hr, "FULL_SYNC", { expect: "COMPLETED" });
    const before = readFileSync(targetFile, "utf8");

    await worker!.stop(); // the export waits in the queue
    worker = null;
    const accepted = await start(accounts, "EXPORT");
    expect(accepted.outcome).toBe("ACCEPTED");
    const input = {
      name: "accounts",
      kind: "CSV",
      config: { path: targetFile, anchor: "id", columns: ["id", "displayName"] },
      staging: true,
    };
    await ok(app, UPDATE, { id: accounts, i: input });
    worker = await startWorker({ services: app.services, executors: defaultExecutors, scheduler: false });

    const run = await waitForRun(app, accepted.run.id, "FAILED");
    expect(run.reasonCode).toBe("STAGING");
    expect(readFileSync(targetFile, "utf8")).toBe(before);
    expect(await pending(accounts)).toEqual(expect.arrayContaining([{ status: "PENDING", _count: 1 }]));
  });
});
