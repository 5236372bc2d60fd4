import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectorObject } from "../../../src/connectors/connector.ts";
import { loadImportSchema } from "../../../src/engine/import/context.ts";
import { schemaFingerprint } from "../../../src/engine/import/schema-trust.ts";
import type { Services } from "../../../src/services.ts";
import { ArrayConnector } from "../../fixtures/array-connector.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// Objects a full import finds unchanged are not validated again while the schema is the one
// every stored object was last validated against (src/engine/import/schema-trust.ts).
let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

const person = (i: number, age: string): ConnectorObject => ({
  objectType: "person",
  anchor: `P${i}`,
  attributes: { id: `P${i}`, age },
});

async function system(name: string) {
  const { id } = await services.systems.create({ name, kind: "CSV", config: { path: `/tmp/${name}.csv`, anchor: "id" } });
  await services.db.prisma.objectType.create({
    data: {
      connectedSystemId: id,
      name: "person",
      anchorAttribute: "id",
      attributes: { create: [{ name: "id", required: true }, { name: "age" }] },
    },
  });
  return id;
}

const fullImport = (systemId: string, connector: ArrayConnector) =>
  runEngine(services, { importBatchSize: 1, systemId, profile: "FULL_IMPORT", connector });

const trustedSchema = async (id: string) =>
  (await services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { id } })).validatedSchemaHash;

const setAgeType = (systemId: string, type: "STRING" | "INTEGER") =>
  services.db.prisma.attributeDefinition.updateMany({
    where: { name: "age", objectType: { connectedSystemId: systemId } },
    data: { type },
  });

const recordErrors = (runId: string) =>
  services.db.prisma.runChange
    .findMany({ where: { runId, changeType: "RECORD_ERROR" }, orderBy: { id: "asc" } })
    .then((rows) => rows.map((r) => `${r.location}: ${r.message}`));

describe("validation of unchanged objects", () => {
  it("re-validates stored objects after a schema change, on every import until they are fixed", async () => {
    const id = await system("trust-schema-change");
    const source = new ArrayConnector([person(1, "41"), person(2, "old"), person(3, "37")], 10);
    expect(await fullImport(id, source)).toMatchObject({ created: 3, failed: 0 });
    // A clean full import: every stored object is valid against this schema.
    expect(await trustedSchema(id)).toBe(schemaFingerprint(await loadImportSchema(services.db.pool, id)));

    await setAgeType(id, "INTEGER");
    const first = await fullImport(id, source);
    expect(first).toMatchObject({ unchanged: 2, failed: 1 });
    expect(await recordErrors(first.id)).toEqual(['person/P2: attribute age must be integer, got "old"']);
    // An import with a failed record does not vouch for the stored objects.
    expect(await trustedSchema(id)).toBeNull();
    const again = await fullImport(id, source);
    expect(again).toMatchObject({ unchanged: 2, failed: 1 });
    expect(await recordErrors(again.id)).toEqual(['person/P2: attribute age must be integer, got "old"']);

    source.objects[1] = person(2, "52");
    expect(await fullImport(id, source)).toMatchObject({ updated: 1, unchanged: 2, failed: 0 });
    expect(await trustedSchema(id)).toBe(schemaFingerprint(await loadImportSchema(services.db.pool, id)));
  });

  it("skips the check of unchanged objects under the trusted schema, and checks changed ones", async () => {
    const id = await system("trust-skip");
    const source = new ArrayConnector([person(1, "x"), person(2, "y")], 10);
    await fullImport(id, source);
    // Pretend both stored objects were validated under the INTEGER schema: only what changed is checked.
    await setAgeType(id, "INTEGER");
    const schema = schemaFingerprint(await loadImportSchema(services.db.pool, id));
    await services.db.pool.query("UPDATE connected_system SET validated_schema_hash = $2 WHERE id = $1", [id, schema]);
    source.objects[1] = person(2, "z");
    const run = await fullImport(id, source);
    expect(run).toMatchObject({ unchanged: 1, updated: 0, failed: 1 });
    expect(await recordErrors(run.id)).toEqual(['person/P2: attribute age must be integer, got "z"']);
  });

  it("an import under another schema withdraws the trust before it writes", async () => {
    const id = await system("trust-other-schema");
    const source = new ArrayConnector([person(1, "1")], 10);
    await fullImport(id, source);
    expect(await trustedSchema(id)).not.toBeNull();
    await setAgeType(id, "INTEGER");
    source.setDelta({ objects: [person(1, "2")], deletes: [] });
    expect(await runEngine(services, { systemId: id, profile: "DELTA_IMPORT", connector: source })).toMatchObject({ updated: 1 });
    expect(await trustedSchema(id)).toBeNull();
  });

  it("keeps the first valid object of an anchor repeated within a page", async () => {
    const id = await system("trust-page-duplicates");
    await setAgeType(id, "INTEGER");
    const source = new ArrayConnector([person(1, "bad"), person(1, "30"), person(1, "31"), person(2, "1")], 10);
    const run = await fullImport(id, source);
    expect(run).toMatchObject({ created: 2, failed: 2 });
    expect(await recordErrors(run.id)).toEqual([
      'person/P1: attribute age must be integer, got "bad"',
      "person/P1: anchor P1 appears more than once",
    ]);
    const stored = await services.db.prisma.connectorSpaceObject.findFirstOrThrow({
      where: { connectedSystemId: id, anchor: "P1" },
    });
    expect(stored.attributes).toEqual({ id: "P1", age: "30" });
  });
});
