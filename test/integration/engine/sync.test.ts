import { beforeEach, describe, expect, it } from "vitest";
import { expandAttributeChanges } from "../../../src/engine/run-changes.ts";
import { unpackContributions } from "../../../src/engine/sync/contributions.ts";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { identities, person, sourceSystem } from "../../helpers/sync-fixtures.ts";

// Each test gets its own database: the metaverse is shared by every system in it.
let services: Services;
beforeEach(async () => {
  services = await createTestServices();
  return () => closeTestServices(services);
});

const hrFlows = [
  { target: "employeeId", source: "id" },
  { target: "givenName", source: "givenName" },
  { target: "sn", source: "sn" },
  { target: "displayName", expression: "givenName & ' ' & sn" },
  { target: "department", source: "department" },
];
const hrRule = {
  projectToMetaverse: true,
  precedence: 10,
  joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
  attributeFlows: hrFlows,
};
const dirRule = {
  precedence: 20,
  joinRules: [{ source: "employeeNumber", metaverseAttribute: "employeeId" }],
  attributeFlows: [
    { target: "mail", source: "mail" },
    { target: "givenName", source: "givenName" },
  ],
};

describe("full and delta sync into the metaverse", () => {
  it("projects, flows direct and expression values, records contributions, keys and run changes", async () => {
    const hr = await sourceSystem(
      services,
      "hr",
      [person("E1", { givenName: "Ada", sn: "Lovelace", department: "R&D" }), person("E2", { givenName: "Alan", sn: "Turing" })],
      hrRule,
    );
    const run = await hr.importAndSync();
    expect(run).toMatchObject({ fetched: 2, created: 2, failed: 0 });
    const [ada] = await identities(services);
    expect(ada?.attributes).toEqual({
      employeeId: "E1",
      givenName: "Ada",
      sn: "Lovelace",
      displayName: "Ada Lovelace",
      department: "R&D",
    });
    expect(ada?.displayName).toBe("Ada Lovelace");
    expect(unpackContributions(ada!.contributions).givenName).toMatchObject({
      systemId: hr.id,
      ruleId: hr.ruleId,
      runId: run.id,
      precedence: 10,
    });
    expect(ada?.connectors[0]).toMatchObject({ joinType: "PROJECTED" });
    const change = await services.db.prisma.runChange.findFirstOrThrow({
      where: { runId: run.id, metaverseObjectId: ada?.id, changeType: "PROJECTED" },
    });
    // Stored compact (rule and source are the row's), read back whole.
    expect(change.attributeChanges).toContainEqual(["sn", "Lovelace"]);
    expect(expandAttributeChanges(change.attributeChanges, change)).toContainEqual({
      attribute: "sn",
      before: null,
      after: "Lovelace",
      syncRuleId: hr.ruleId,
      sourceSystemId: hr.id,
    });
    expect(await services.db.prisma.metaverseKey.count({ where: { attribute: "employeeId" } })).toBe(2);
    expect(await services.db.prisma.csoChange.count()).toBe(0);
  });

  it("a delta sync takes the whole queue, however many import batches filled it", async () => {
    const people = Array.from({ length: 1250 }, (_, i) => person(`E${i}`, { givenName: `G${i}`, sn: `S${i}` }));
    const hr = await sourceSystem(services, "hr", people, hrRule);
    // 50-object pages, one batch each: 25 queue rows of 50 ids, more than one sync batch (1,000).
    await hr.run("FULL_IMPORT", { importBatchSize: 1 });
    expect(await services.db.prisma.csoChange.count()).toBe(25);
    const delta = await hr.run("DELTA_SYNC");
    expect(delta).toMatchObject({ fetched: 1250, created: 1250, failed: 0 });
    expect(await services.db.prisma.metaverseObject.count()).toBe(1250);
    expect(await services.db.prisma.csoChange.count()).toBe(0);
  });

  it("joins a second source, honours precedence, falls back when the winner loses its value, and reports the conflict", async () => {
    const hr = await sourceSystem(services, "hr", [person("E1", { givenName: "Ada", sn: "Lovelace" })], hrRule);
    await hr.importAndSync();
    const dir = await sourceSystem(
      services,
      "dir",
      [{ objectType: "person", anchor: "u1", attributes: { employeeNumber: "e1", mail: "ada@x.org", givenName: "Augusta" } }],
      dirRule,
    );
    const run = await dir.importAndSync();
    const [ada] = await identities(services);
    expect(ada?.connectors).toHaveLength(2);
    expect(ada?.attributes).toMatchObject({ givenName: "Ada", mail: "ada@x.org" });
    expect(unpackContributions(ada!.contributions).mail?.systemId).toBe(dir.id);
    expect(unpackContributions(ada!.contributions).givenName?.systemId).toBe(hr.id);
    const conflict = await services.db.prisma.runChange.findFirstOrThrow({
      where: { runId: run.id, changeType: "CONFLICT_RESOLVED" },
    });
    expect(conflict.attributeChanges).toMatchObject({
      attribute: "givenName",
      strategy: "precedence",
      winner: { systemId: hr.id, value: "Ada" },
    });

    // HR loses the value: the lower-precedence source now supplies it.
    hr.connector.objects = [person("E1", { givenName: null, sn: "Lovelace" })];
    await hr.run("FULL_IMPORT");
    const delta = await hr.run("DELTA_SYNC");
    expect(delta).toMatchObject({ fetched: 1, updated: 1 });
    const [after] = await identities(services);
    expect(after?.attributes).toMatchObject({ givenName: "Augusta" });
    expect(unpackContributions(after!.contributions).givenName).toMatchObject({ systemId: dir.id, runId: delta.id });
    const why = await services.db.prisma.runChange.findFirstOrThrow({ where: { runId: delta.id, changeType: "MVO_UPDATED" } });
    expect(expandAttributeChanges(why.attributeChanges, why)).toContainEqual({
      attribute: "givenName",
      before: "Ada",
      after: "Augusta",
      syncRuleId: dir.ruleId,
      sourceSystemId: dir.id,
    });
    expect(expandAttributeChanges(why.attributeChanges, why)).toContainEqual({
      attribute: "displayName",
      before: "Ada Lovelace",
      after: " Lovelace",
      syncRuleId: hr.ruleId,
      sourceSystemId: hr.id,
    });
  });

  it("records an ambiguous join as a conflict instead of guessing", async () => {
    const hr = await sourceSystem(
      services,
      "hr",
      [person("E1", { givenName: "A", sn: "One" }), person("E2", { givenName: "B", sn: "Two" })],
      {
        ...hrRule,
        attributeFlows: [...hrFlows, { target: "costCenter", source: "cc" }],
      },
    );
    hr.connector.objects = hr.connector.objects.map((o) => ({ ...o, attributes: { ...o.attributes, cc: "C7" } }));
    await hr.importAndSync();
    const dir = await sourceSystem(
      services,
      "dir",
      [{ objectType: "person", anchor: "u1", attributes: { cc: "c7", mail: "x@x" } }],
      {
        ...dirRule,
        joinRules: [{ source: "cc", metaverseAttribute: "costCenter" }],
      },
    );
    const run = await dir.importAndSync();
    expect(run.failed).toBe(1);
    const conflict = await services.db.prisma.runChange.findFirstOrThrow({
      where: { runId: run.id, changeType: "JOIN_CONFLICT" },
    });
    expect((conflict.attributeChanges as any).candidates).toHaveLength(2);
    const cso = await services.db.prisma.connectorSpaceObject.findFirstOrThrow({ where: { connectedSystemId: dir.id } });
    expect(cso.metaverseObjectId).toBeNull();
  });

  it("disconnects objects leaving scope and deletes the identity by its deletion rule, with a grace period", async () => {
    const hr = await sourceSystem(
      services,
      "hr",
      [
        person("E1", { givenName: "A", sn: "One", department: "Sales" }),
        person("E2", { givenName: "B", sn: "Two", department: "Sales" }),
      ],
      {
        ...hrRule,
        scope: "department = 'Sales'",
        mvoDeletionRule: "WHEN_LAST_CONNECTOR_DISCONNECTS",
        mvoDeletionGraceSeconds: 0,
      },
    );
    await hr.importAndSync();
    expect(await identities(services)).toHaveLength(2);
    hr.connector.objects = [
      person("E1", { givenName: "A", sn: "One", department: "Marketing" }),
      person("E2", { givenName: "B", sn: "Two", department: "Sales" }),
    ];
    const run = await hr.importAndSync();
    expect(run.deleted).toBe(1);
    const left = await identities(services);
    expect(left.map((m) => (m.attributes as any).employeeId)).toEqual(["E2"]);
    expect(
      await services.db.prisma.runChange.count({ where: { runId: run.id, changeType: "DISCONNECTED", message: "out of scope" } }),
    ).toBe(1);

    // Authoritative source with a grace period: deleted from the source -> pending, then deleted when due.
    await services.db.prisma.syncRule.update({
      where: { id: hr.ruleId },
      data: { mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS", mvoDeletionGraceSeconds: 1 },
    });
    hr.connector.objects = [];
    await hr.importAndSync();
    const pending = await services.db.prisma.metaverseObject.findFirstOrThrow({ where: { status: "PENDING_DELETION" } });
    expect(pending.deletionDueAt?.getTime()).toBeGreaterThan(Date.now());
    expect(await services.db.prisma.connectorSpaceObject.count({ where: { connectedSystemId: hr.id } })).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    const later = await hr.run("DELTA_SYNC");
    expect(later.deleted).toBe(1);
    expect((await services.db.prisma.metaverseObject.findUniqueOrThrow({ where: { id: pending.id } })).status).toBe("DELETED");
  });

  it("a dry run records what it would do and writes nothing to the metaverse", async () => {
    const hr = await sourceSystem(services, "hr", [person("E1", { givenName: "A", sn: "One" })], hrRule);
    await hr.run("FULL_IMPORT");
    const dry = await hr.run("FULL_SYNC", { dryRun: true });
    expect(dry.created).toBe(1);
    expect(await services.db.prisma.metaverseObject.count()).toBe(0);
    expect(await services.db.prisma.csoChange.count()).toBe(1);
    expect(await services.db.prisma.runChange.count({ where: { runId: dry.id, changeType: "PROJECTED" } })).toBe(1);
  });

  it("resumes a crashed full sync without duplicate identities", async () => {
    const people = Array.from({ length: 2500 }, (_, i) => person(`E${i}`, { givenName: `G${i}`, sn: `S${i}` }));
    const hr = await sourceSystem(services, "hr", people, hrRule);
    await hr.run("FULL_IMPORT");
    await expect(hr.run("FULL_SYNC", { crashAfterBatches: 2 })).rejects.toThrow("simulated crash");
    const crashed = await services.db.prisma.run.findFirstOrThrow({ where: { profile: "FULL_SYNC" } });
    expect(await services.db.prisma.metaverseObject.count()).toBe(1000);
    const resumed = await hr.run("FULL_SYNC", { runId: crashed.id });
    expect(resumed.created).toBe(2500);
    expect(await services.db.prisma.metaverseObject.count()).toBe(2500);
    expect(await services.db.prisma.connectorSpaceObject.count({ where: { metaverseObjectId: null } })).toBe(0);
  });
});
