import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorError } from "../../../src/connectors/connector.ts";
import { collect } from "../../helpers/import-context.ts";
import { SqlHarness } from "../../helpers/sql-harness.ts";

// Table and column names come from the config and the catalog: they are quoted, never spliced.
const target = new SqlHarness();
beforeAll(() => target.start());
afterAll(() => target.stop());

describe("SQL identifiers", () => {
  it('a table and columns named with quotes and SQL (a"b, x"; DROP TABLE y; --) are read and written as names', async () => {
    await target.admin.query(`CREATE TABLE victim (id int)`);
    await target.admin.query(
      `CREATE TABLE "we""ird; DROP TABLE victim; --" (id text PRIMARY KEY, "a""b" text, "x""; DROP TABLE victim; --" text)`,
    );
    const c = await target.sql({ table: 'we"ird; DROP TABLE victim; --' });
    const schema = await c.discoverSchema();
    expect(schema.objectTypes[0]?.attributes.map((a) => a.name).sort()).toEqual(['a"b', "id", 'x"; DROP TABLE victim; --']);
    const attributes = [
      { attribute: 'a"b', operation: "ADD" as const, values: ["quoted"] },
      { attribute: 'x"; DROP TABLE victim; --', operation: "ADD" as const, values: ["injected?"] },
    ];
    const [created] = await c.export([{ id: "e1", changeType: "CREATE", objectType: "person", anchor: "1", attributes }]);
    expect(created).toMatchObject({ status: "APPLIED", anchor: "1" });
    const [page] = await collect(c.importFull(null, target.noContext));
    expect(page?.objects[0]?.attributes).toEqual({ id: "1", 'a"b': "quoted", 'x"; DROP TABLE victim; --': "injected?" });
    expect((await target.admin.query("SELECT count(*)::int AS n FROM victim")).rows[0].n).toBe(0);
  });

  it("a name holding NUL is refused as INVALID_INPUT when the connector is made", async () => {
    for (const config of [
      { table: "a\u0000b" },
      { table: "t", anchor: "i\u0000d" },
      { table: "t", watermarkColumn: "w\u0000" },
    ]) {
      const err = await target.sql(config).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(config)).toBeInstanceOf(ConnectorError);
      expect((err as ConnectorError).code).toBe("INVALID_INPUT");
    }
  });
});
