import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector, DiscoveredSchema } from "../../../src/connectors/connector.ts";
import { ConnectorError } from "../../../src/connectors/connector.ts";
import { ConnectionActions } from "../../../src/systems/connection-actions.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createCsvSystem } from "../../helpers/fixtures.ts";
import { createTestServices } from "../../helpers/services.ts";

// A directory stand-in: the real connectors are built on other branches; the database is real.
let schema: DiscoveredSchema;
let failWith: ConnectorError | null = null;
const fake = (): Connector =>
  ({
    capabilities: { fullImport: true, deltaImport: false, export: false, schemaDiscovery: true, rename: false },
    testConnection: async () => {
      if (failWith) throw failWith;
      return { message: "connected to fake" };
    },
    discoverSchema: async () => {
      if (failWith) throw failWith;
      return schema;
    },
    close: async () => {},
  }) as unknown as Connector;

let app: TestApp;
beforeAll(async () => {
  const services = await createTestServices();
  services.connectionActions = new ConnectionActions({
    prisma: services.db.prisma,
    systems: services.systems,
    logger: services.logger,
    connect: async () => fake(),
  });
  app = await startTestApp(services);
});
afterAll(async () => {
  await app?.stop();
  await app?.services.bus.close();
  await app?.services.db.close();
});

const REFRESH = `mutation ($id: ID!) { refreshSchema(id: $id) { schemaDiscoveredAt objectTypes { name anchorAttribute attributes { name type multiValued } } } }`;

describe("testConnection and refreshSchema", () => {
  it("reports ok and a failure as a result with the connector's code", async () => {
    const { id } = await createCsvSystem(app.services, "fake");
    failWith = null;
    const ok = await app.gql(`mutation ($id: ID!) { testConnection(id: $id) { ok message code } }`, { id });
    expect(ok.data.testConnection).toEqual({ ok: true, message: "connected to fake", code: null });
    failWith = new ConnectorError("CONNECTION_FAILED", "connect ECONNREFUSED 127.0.0.1:1");
    const bad = await app.gql(`mutation ($id: ID!) { testConnection(id: $id) { ok message code } }`, { id });
    expect(bad.data.testConnection).toEqual({
      ok: false,
      message: "connect ECONNREFUSED 127.0.0.1:1",
      code: "CONNECTION_FAILED",
    });
    failWith = null;
  });

  it("replaces the discovered schema in one go and then validates rules against it", async () => {
    const { id } = await createCsvSystem(app.services, "hr");
    schema = {
      objectTypes: [
        {
          name: "person",
          anchorAttribute: "id",
          attributes: [
            { name: "id", type: "STRING", multiValued: false, required: true },
            { name: "groups", type: "STRING", multiValued: true, required: false },
          ],
        },
      ],
    };
    const first = await app.gql(REFRESH, { id });
    expect(first.errors).toBeUndefined();
    expect(first.data.refreshSchema.objectTypes).toEqual([
      {
        name: "person",
        anchorAttribute: "id",
        attributes: [
          { name: "groups", type: "STRING", multiValued: true },
          { name: "id", type: "STRING", multiValued: false },
        ],
      },
    ]);
    schema = {
      objectTypes: [
        {
          name: "account",
          anchorAttribute: "sam",
          attributes: [{ name: "sam", type: "STRING", multiValued: false, required: true }],
        },
      ],
    };
    const second = await app.gql(REFRESH, { id });
    expect(second.data.refreshSchema.objectTypes.map((t: { name: string }) => t.name)).toEqual(["account"]);
    expect(await app.services.db.prisma.attributeDefinition.count()).toBe(1);
    const rule = await app.gql(`mutation ($input: SyncRuleInput!) { createSyncRule(input: $input) { id } }`, {
      input: {
        name: "r",
        connectedSystemId: id,
        direction: "INBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        attributeFlows: [],
      },
    });
    expect(rule.errors?.[0]?.message).toContain('"person" is not an object type of hr (known: account)');
  });

  it("keeps the old schema when discovery fails, with the connector's code", async () => {
    const { id } = await createCsvSystem(app.services, "flaky");
    failWith = new ConnectorError("AUTH_FAILED", "invalid credentials");
    const r = await app.gql(REFRESH, { id });
    failWith = null;
    expect(r.errors?.[0]?.extensions?.code).toBe("AUTH_FAILED");
    expect(r.errors?.[0]?.message).toContain("invalid credentials");
    const missing = await app.gql(REFRESH, { id: "00000000-0000-4000-8000-000000000000" });
    expect(missing.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });
});

describe("with the real CSV connector", () => {
  it("tests a readable file, discovers its columns, and reports a missing file as ok: false", async () => {
    const services = await createTestServices();
    const dir = mkdtempSync(path.join(tmpdir(), "metasync-csv-"));
    const file = path.join(dir, "hr.csv");
    writeFileSync(file, "employeeId,givenName,sn,groups\n1,Ada,Lovelace,a|b\n");
    try {
      const sys = await services.systems.create({
        name: "hr-csv",
        kind: "CSV",
        config: { path: file, anchor: "employeeId", multiValued: ["groups"] },
      });
      const ok = await services.connectionActions.testConnection(sys.id);
      expect(ok).toMatchObject({ ok: true, code: null });
      expect(ok.message).toContain("4 columns");
      await services.connectionActions.refreshSchema(sys.id);
      const types = await services.db.prisma.objectType.findMany({
        where: { connectedSystemId: sys.id },
        include: { attributes: { orderBy: { name: "asc" } } },
      });
      expect(types.map((t) => [t.name, t.anchorAttribute])).toEqual([["person", "employeeId"]]);
      expect(types[0]?.attributes.map((a) => [a.name, a.multiValued])).toEqual([
        ["employeeId", false],
        ["givenName", false],
        ["groups", true],
        ["sn", false],
      ]);
      // Rules are now checked against the file's columns.
      await expect(
        services.syncRules.create({
          name: "hr-in",
          connectedSystemId: sys.id,
          direction: "INBOUND",
          objectType: "person",
          metaverseObjectType: "person",
          attributeFlows: [{ target: "surname", source: "surname" }],
        }),
      ).rejects.toThrow('attribute "surname" does not exist on object type "person"');

      const missing = await services.systems.create({
        name: "gone",
        kind: "CSV",
        config: { path: path.join(dir, "nope.csv"), anchor: "id" },
      });
      const bad = await services.connectionActions.testConnection(missing.id);
      expect(bad.ok).toBe(false);
      expect(bad.code).toMatch(/^(NOT_FOUND|CONNECTION_FAILED)$/);
      expect(bad.message).toContain("nope.csv");
    } finally {
      await services.bus.close();
      await services.db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
