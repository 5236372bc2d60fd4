import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExportExecutor } from "../../../src/engine/outbound/run-export.ts";
import type { Services } from "../../../src/services.ts";
import { MemoryTarget } from "../../fixtures/memory-target.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { csvTarget, person, sourceSystem } from "../../helpers/sync-fixtures.ts";

let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

describe("undo of an export that changed a list value by value", () => {
  it("keeps no copy of the list, and undoes by removing what was added and adding back what was removed", async () => {
    const hr = await sourceSystem(services, "hr", [person("E1", { givenName: "Ada", roles: ["a", "b", "c"] })], {
      projectToMetaverse: true,
      joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
      attributeFlows: [
        { target: "employeeId", source: "id" },
        { target: "givenName", source: "givenName" },
        { target: "roles", source: "roles" },
      ],
    });
    const target = new MemoryTarget();
    const dir = await csvTarget(services, [
      { target: "uid", expression: "$lowercase(givenName)" },
      { target: "dn", expression: "'uid=' & $lowercase(givenName) & ',dc=x'" },
      { target: "roles", source: "roles" },
      { target: "title", expression: "'Countess'" },
    ]);
    const exportRun = () =>
      runEngine(services, {
        systemId: dir.id,
        profile: "EXPORT",
        executor: createExportExecutor({ batchSize: 50, retryBaseMs: 10 }),
        connector: target,
      });
    const roles = () => [...target.entries.values()][0]?.attributes.roles;
    await hr.importAndSync();
    await exportRun();
    await runEngine(services, { systemId: dir.id, profile: "FULL_IMPORT", connector: target });
    expect(roles()).toEqual(["a", "b", "c"]);

    hr.connector.objects = [person("E1", { givenName: "Ada", roles: ["a", "c", "d"] })];
    await hr.run("FULL_IMPORT");
    await hr.run("DELTA_SYNC");
    const [update] = await services.db.prisma.pendingExport.findMany({
      where: { connectedSystemId: dir.id, changeType: "UPDATE" },
    });
    expect(update?.attributeChanges).toEqual([
      { attribute: "roles", operation: "ADD", values: ["d"], status: "PENDING" },
      { attribute: "roles", operation: "REMOVE", values: ["b"], status: "PENDING" },
    ]);
    // Nothing of the list is copied for the undo: only REPLACEd values are.
    expect(update?.beforeValues).toEqual({});
    const exported = await exportRun();
    expect(roles()).toEqual(["a", "c", "d"]);

    expect(await services.pendingExports.undoRun(exported.id)).toBe(1);
    const [inverse] = await services.db.prisma.pendingExport.findMany({ where: { undoOfRunId: exported.id } });
    expect(inverse).toMatchObject({
      status: "AWAITING_APPROVAL",
      attributeChanges: [
        { attribute: "roles", operation: "REMOVE", values: ["d"], status: "PENDING" },
        { attribute: "roles", operation: "ADD", values: ["b"], status: "PENDING" },
      ],
    });
    expect(await services.pendingExports.approve({ runId: exported.id }, "test")).toBe(1);
    await exportRun();
    expect([...(roles() as string[])].sort()).toEqual(["a", "b", "c"]);
  });
});
