import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId, runToEnd } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

const dir = mkdtempSync(path.join(tmpdir(), "metasync-csv-target-"));
const hrFile = path.join(dir, "hr.csv");
const targetFile = path.join(dir, "out", "accounts.csv");
let app: TestApp;
let worker: WorkerHandle;

beforeAll(async () => {
  writeFileSync(hrFile, "employeeId,givenName,sn,department\nE1,Ada,Lovelace,R&D\nE2,Alan,Turing,Ops\n");
  mkdirSync(path.dirname(targetFile));
  const services = await createTestServices({}, { runOptions: FAST_RUN_OPTIONS });
  app = await startTestApp(services);
  worker = await startWorker({ services, executors: defaultExecutors, scheduler: false });
});
afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  rmSync(dir, { recursive: true, force: true });
});

describe("a CSV target that does not exist yet", () => {
  it("takes its columns from the outbound rule, and the first export writes the file under that header", async () => {
    const create = async (i: Record<string, unknown>) => rawId((await ok(app, CREATE_SYSTEM, { i })).createConnectedSystem.id);
    const hr = await create({ name: "hr", kind: "CSV", config: { path: hrFile, anchor: "employeeId" } });
    await ok(app, REFRESH, { id: hr });
    const accounts = await create({ name: "accounts", kind: "CSV", config: { path: targetFile, anchor: "id" } });
    await ok(app, CREATE_RULE, {
      i: {
        name: "hr-in",
        connectedSystemId: hr,
        direction: "INBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        projectToMetaverse: true,
        joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
        attributeFlows: [
          { target: "employeeId", source: "employeeId" },
          { target: "givenName", source: "givenName" },
          { target: "sn", source: "sn" },
          { target: "department", source: "department" },
        ],
      },
    });
    await ok(app, CREATE_RULE, {
      i: {
        name: "accounts-out",
        connectedSystemId: accounts,
        direction: "OUTBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        provisionToConnector: true,
        attributeFlows: [
          { target: "id", source: "employeeId" },
          { target: "displayName", expression: "givenName & ' ' & sn" },
          { target: "department", source: "department" },
        ],
      },
    });

    // Discovery of the missing target: the anchor, then the rule's flow targets.
    const discovered = await ok(
      app,
      "mutation($id: ID!) { refreshSchema(id: $id) { objectTypes { name anchorAttribute attributes { name } } } }",
      { id: accounts },
    );
    expect(discovered.refreshSchema.objectTypes).toEqual([
      {
        name: "person",
        anchorAttribute: "id",
        attributes: expect.arrayContaining([{ name: "id" }, { name: "displayName" }, { name: "department" }]),
      },
    ]);
    expect(discovered.refreshSchema.objectTypes[0].attributes).toHaveLength(3);
    const test = await ok(app, "mutation($id: ID!) { testConnection(id: $id) { ok message } }", { id: accounts });
    expect(test.testConnection.ok).toBe(true);
    expect(existsSync(targetFile)).toBe(false);

    await runToEnd(app, hr, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, hr, "FULL_SYNC", { expect: "COMPLETED" });
    expect(await runToEnd(app, accounts, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ failed: 0 });
    const [header, ...rows] = readFileSync(targetFile, "utf8").trimEnd().split("\n");
    expect(header).toBe("id,displayName,department");
    expect(rows.sort()).toEqual(["E1,Ada Lovelace,R&D", "E2,Alan Turing,Ops"]);

    // The next import of the target confirms what was written.
    expect(await runToEnd(app, accounts, "FULL_IMPORT", { expect: "COMPLETED" })).toMatchObject({ failed: 0 });
  });
});
