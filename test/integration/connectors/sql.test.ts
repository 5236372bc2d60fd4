import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImportPage } from "../../../src/connectors/connector.ts";
import { expectError } from "../../helpers/connector-errors.ts";
import { collect, MemoryImportContext } from "../../helpers/import-context.ts";
import { anchorsOf, SqlHarness } from "../../helpers/sql-harness.ts";

const target = new SqlHarness();
beforeAll(() => target.start());
afterAll(() => target.stop());

describe("SQL connector: import", () => {
  it("reads the table in keyset pages with values mapped to JSON-safe attributes and the watermark at the end", async () => {
    await target.peopleTable("people_full", 25);
    const c = await target.sql({ table: "people_full", pageSize: 10, watermarkColumn: "updated_at" });
    const pages = await collect(c.importFull(null, target.noContext));
    expect(pages.map((p) => p.objects.length)).toEqual([10, 10, 5]);
    expect(anchorsOf(pages)).toEqual(Array.from({ length: 25 }, (_, i) => String(i + 1).padStart(3, "0")));
    expect(pages[0]?.total).toBe(25);
    expect(pages[0]?.objects[0]).toEqual({
      objectType: "person",
      anchor: "001",
      attributes: {
        id: "001",
        name: "Person 1",
        mail: "p1@x",
        age: 21,
        active: false,
        groups: ["staff", "g1"],
        photo: Buffer.from([1, 2, 255]).toString("base64"),
        external_id: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        updated_at: "2024-01-01T00:00:01.000001Z",
      },
    });
    // NULL columns are absent attributes.
    expect(pages[0]?.objects[4]?.attributes).not.toHaveProperty("mail");
    expect(pages.slice(0, 2).map((p) => p.watermark)).toEqual([undefined, undefined]);
    expect(pages[2]?.watermark).toBe("2024-01-01 00:00:25.000001+00");
  });

  it("resumes from a checkpoint with exactly the remaining rows", async () => {
    await target.peopleTable("people_resume", 12);
    const c = await target.sql({ table: "people_resume", pageSize: 5 });
    const all = await collect(c.importFull(null, target.noContext));
    const resumed = await collect(c.importFull(all[1]?.checkpoint ?? null, target.noContext));
    expect(anchorsOf(resumed)).toEqual(anchorsOf(all).slice(10));
  });

  it("fails with a transient CONNECTION_FAILED when the server drops the connection mid-import, and resumes without duplicates", async () => {
    await target.peopleTable("people_killed", 30);
    const c = await target.sql({ table: "people_killed", pageSize: 10 });
    const iterator = c.importFull(null, target.noContext)[Symbol.asyncIterator]();
    const first = (await iterator.next()) as IteratorResult<ImportPage, undefined>;
    expect(first.value?.objects).toHaveLength(10);
    const killed = await target.admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'metasync' AND datname = current_database()",
    );
    expect(killed.rowCount).toBeGreaterThan(0);
    await expectError(iterator.next(), "CONNECTION_FAILED", true);
    const rest = await collect(c.importFull(first.value?.checkpoint ?? null, target.noContext));
    const anchors = [...anchorsOf(first.value ? [first.value] : []), ...anchorsOf(rest)];
    expect(anchors).toEqual(Array.from({ length: 30 }, (_, i) => String(i + 1).padStart(3, "0")));
  });

  it("delta import returns changed and added rows past the watermark and the deleted anchors", async () => {
    await target.peopleTable("people_delta", 8);
    const c = await target.sql({ table: "people_delta", pageSize: 2, watermarkColumn: "updated_at" });
    const engine = new MemoryImportContext();
    const full = await collect(c.importFull(null, engine));
    engine.apply(full, "full");
    await target.admin.query(
      "UPDATE people_delta SET name = 'Changed', updated_at = '2024-06-01 00:00:00.5+00' WHERE id IN ('003', '006')",
    );
    await target.admin.query("INSERT INTO people_delta (id, name, updated_at) VALUES ('009', 'New', '2024-06-01 00:00:01+00')");
    await target.admin.query("DELETE FROM people_delta WHERE id IN ('002', '007')");
    const delta = await collect(c.importDelta(full.at(-1)?.watermark ?? null, null, engine));
    expect(anchorsOf(delta)).toEqual(["003", "006", "009"]);
    expect(delta.flatMap((p) => p.objects).map((o) => o.attributes["name"])).toEqual(["Changed", "Changed", "New"]);
    expect(delta.flatMap((p) => p.deletes).map((d) => d.anchor)).toEqual(["002", "007"]);
    expect(delta.at(-1)?.watermark).toBe("2024-06-01 00:00:01+00");
    engine.apply(delta, "delta");
    const quiet = await collect(c.importDelta(delta.at(-1)?.watermark ?? null, null, engine));
    expect(quiet.flatMap((p) => [...p.objects, ...p.deletes])).toEqual([]);
    expect(quiet.at(-1)?.watermark).toBe("2024-06-01 00:00:01+00");
    // Resuming a delta from its first page's checkpoint gives the rest, nothing twice.
    const resumed = await collect(c.importDelta(full.at(-1)?.watermark ?? null, delta[0]?.checkpoint ?? null, engine));
    expect(anchorsOf(resumed)).toEqual(["009"]);
  });

  it("discovers columns with mapped types, arrays as multi-valued, NOT NULL as required", async () => {
    await target.peopleTable("people_schema", 1);
    const c = await target.sql({ table: "people_schema" });
    const [type] = (await c.discoverSchema()).objectTypes;
    expect(type?.anchorAttribute).toBe("id");
    expect(
      Object.fromEntries(
        type?.attributes.map((a) => [a.name, `${a.type}${a.multiValued ? "[]" : ""}${a.required ? "!" : ""}`]) ?? [],
      ),
    ).toEqual({
      id: "STRING!",
      name: "STRING!",
      mail: "STRING",
      age: "INTEGER",
      active: "BOOLEAN",
      groups: "STRING[]",
      photo: "BINARY",
      external_id: "GUID",
      updated_at: "DATETIME!",
    });
    expect((await c.testConnection()).message).toMatch(/^PostgreSQL \d+.*9 columns/);
  });
});

describe("SQL connector: export", () => {
  /** The test tables' updated_at default (test/helpers/sql-harness.ts), as an import reads it. */
  const DEFAULT_AT = "2030-01-01T00:00:00Z";
  const replace = (attrs: Record<string, (string | number | boolean)[]>) =>
    Object.entries(attrs).map(([attribute, values]) => ({ attribute, operation: "REPLACE" as const, values }));

  it("applies create, update, rename and delete in one transaction with a result per change", async () => {
    await target.peopleTable("people_export", 3);
    const c = await target.sql({ table: "people_export" });
    const results = await c.export([
      {
        id: "c",
        changeType: "CREATE",
        objectType: "person",
        anchor: "100",
        attributes: replace({ name: ["x'); DROP TABLE people_export; --"], age: [40], groups: ["a", "b"] }),
      },
      {
        id: "u",
        changeType: "UPDATE",
        objectType: "person",
        anchor: "001",
        attributes: [
          { attribute: "groups", operation: "ADD", values: ["ops"] },
          { attribute: "groups", operation: "REMOVE", values: ["staff"] },
          { attribute: "mail", operation: "REMOVE_ALL", values: [] },
          { attribute: "active", operation: "REPLACE", values: [true] },
        ],
      },
      {
        id: "r",
        changeType: "UPDATE",
        objectType: "person",
        anchor: "002",
        attributes: replace({ id: ["200"], name: ["Renamed"] }),
      },
      { id: "r2", changeType: "UPDATE", objectType: "person", anchor: "003", newDn: "300", attributes: [] },
      { id: "d", changeType: "DELETE", objectType: "person", anchor: "100", attributes: [] },
      { id: "c2", changeType: "CREATE", objectType: "person", anchor: "101", attributes: replace({ name: ["Kept"] }) },
    ]);
    expect(results).toEqual([
      {
        id: "c",
        status: "APPLIED",
        anchor: "100",
        // The row as inserted, read as an import reads it, the column default included.
        attributes: { id: "100", name: "x'); DROP TABLE people_export; --", age: 40, groups: ["a", "b"], updated_at: DEFAULT_AT },
      },
      { id: "u", status: "APPLIED", anchor: "001" },
      { id: "r", status: "APPLIED", anchor: "200" },
      { id: "r2", status: "APPLIED", anchor: "300" },
      { id: "d", status: "APPLIED", anchor: "100" },
      { id: "c2", status: "APPLIED", anchor: "101", attributes: { id: "101", name: "Kept", updated_at: DEFAULT_AT } },
    ]);
    const { rows } = await target.admin.query("SELECT id, name, mail, active, groups FROM people_export ORDER BY id");
    expect(rows).toEqual([
      { id: "001", name: "Person 1", mail: null, active: true, groups: ["g1", "ops"] },
      { id: "101", name: "Kept", mail: null, active: null, groups: null },
      { id: "200", name: "Renamed", mail: "p2@x", active: true, groups: ["staff", "g2"] },
      { id: "300", name: "Person 3", mail: "p3@x", active: false, groups: ["staff", "g0"] },
    ]);
    expect(c.capabilities.rename).toBe(true);
  });

  it("reads the table's columns again when the table changed under a connector that had read them", async () => {
    await target.peopleTable("people_cached", 1);
    const c = await target.sql({ table: "people_cached" });
    const create = (id: string, attributes: Record<string, string[]>) =>
      c.export([
        { id, changeType: "CREATE", objectType: "person", anchor: id, attributes: replace({ name: [id], ...attributes }) },
      ]);
    const created = (id: string, more = {}) => [
      { id, status: "APPLIED", anchor: id, attributes: { id, name: id, updated_at: DEFAULT_AT, ...more } },
    ];
    expect(await create("010", {})).toEqual(created("010"));
    expect(await create("011", {})).toEqual(created("011"));
    // A column added after the columns were read: the batch using it reads them again and applies.
    await target.admin.query("ALTER TABLE people_cached ADD COLUMN title text");
    expect(await create("012", { title: ["Engineer"] })).toEqual(created("012", { title: "Engineer" }));
    const { rows } = await target.admin.query("SELECT id, title FROM people_cached WHERE id LIKE '01%' ORDER BY id");
    expect(rows).toEqual([
      { id: "010", title: null },
      { id: "011", title: null },
      { id: "012", title: "Engineer" },
    ]);
    await c.close();
  });

  it("gives each bad row its own permanent failure while the rest of the batch commits", async () => {
    await target.peopleTable("people_bad", 2);
    const c = await target.sql({ table: "people_bad" });
    const results = await c.export([
      { id: "ok1", changeType: "CREATE", objectType: "person", anchor: "010", attributes: replace({ name: ["Ten"] }) },
      { id: "dup", changeType: "CREATE", objectType: "person", anchor: "001", attributes: replace({ name: ["Again"] }) },
      { id: "null", changeType: "CREATE", objectType: "person", anchor: "011", attributes: replace({ age: [3] }) },
      { id: "type", changeType: "UPDATE", objectType: "person", anchor: "002", attributes: replace({ age: ["old"] }) },
      { id: "long", changeType: "UPDATE", objectType: "person", anchor: "002", attributes: replace({ mail: ["x".repeat(30)] }) },
      { id: "col", changeType: "UPDATE", objectType: "person", anchor: "002", attributes: replace({ phone: ["1"] }) },
      { id: "many", changeType: "UPDATE", objectType: "person", anchor: "002", attributes: replace({ name: ["a", "b"] }) },
      { id: "gone-u", changeType: "UPDATE", objectType: "person", anchor: "999", attributes: replace({ name: ["x"] }) },
      { id: "gone-d", changeType: "DELETE", objectType: "person", anchor: "999", attributes: [] },
      { id: "ok2", changeType: "UPDATE", objectType: "person", anchor: "002", attributes: replace({ name: ["Two"] }) },
    ]);
    const summary = Object.fromEntries(results.map((r) => [r.id, r.status === "APPLIED" ? "APPLIED" : `${r.status}:${r.code}`]));
    expect(summary).toEqual({
      ok1: "APPLIED",
      dup: "APPLIED", // joined to row 001: its name becomes "Again"
      null: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      type: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      long: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      col: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      many: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      "gone-u": "PERMANENT_FAILURE:NOT_FOUND",
      "gone-d": "APPLIED", // already gone is what a DELETE wants
      ok2: "APPLIED",
    });
    const { rows } = await target.admin.query("SELECT id, name, age FROM people_bad ORDER BY id");
    expect(rows).toEqual([
      { id: "001", name: "Again", age: 21 },
      { id: "002", name: "Two", age: 22 },
      { id: "010", name: "Ten", age: null },
    ]);
  });

  it("a long run of CREATEs with two bad rows: exactly those two fail, the others are inserted", async () => {
    await target.admin.query("DROP TABLE IF EXISTS people_bulk");
    await target.admin.query(
      "CREATE TABLE people_bulk (id text PRIMARY KEY, name text NOT NULL, groups text[], mail text UNIQUE)",
    );
    await target.admin.query("INSERT INTO people_bulk (id, name, mail) VALUES ('001', 'Person 1', 'taken@x')");
    const c = await target.sql({ table: "people_bulk" });
    const changes = Array.from({ length: 20 }, (_, i) => ({
      id: `c${i}`,
      changeType: "CREATE" as const,
      objectType: "person",
      anchor: `n${String(i).padStart(2, "0")}`,
      attributes: replace(
        i === 15
          ? { groups: ["no name"] }
          : { name: [`New ${i}`], groups: ["x", String(i)], ...(i === 3 ? { mail: ["taken@x"] } : {}) },
      ),
    }));
    const results = await c.export(changes);
    expect(results.filter((r) => r.status !== "APPLIED").map((r) => [r.id, "code" in r && r.code])).toEqual([
      ["c3", "ALREADY_EXISTS"],
      ["c15", "SCHEMA_VIOLATION"],
    ]);
    expect(results.map((r) => r.id)).toEqual(changes.map((ch) => ch.id));
    const { rows } = await target.admin.query(
      "SELECT count(*)::int AS n, max(groups[2]) AS g FROM people_bulk WHERE id LIKE 'n%'",
    );
    expect(rows[0]).toEqual({ n: 18, g: "9" });
    expect(results.find((r) => r.id === "c3")).toMatchObject({ message: expect.stringMatching(/people_bulk_mail_key/) });
  });

  it("runs of updates and deletes (one statement each): a missing row is NOT_FOUND for an update, done for a delete", async () => {
    await target.peopleTable("people_runs", 6);
    const c = await target.sql({ table: "people_runs" });
    const update = (anchor: string, name: string, groups: string[]) => ({
      id: `u${anchor}`,
      changeType: "UPDATE" as const,
      objectType: "person",
      anchor,
      attributes: [...replace({ name: [name], groups }), { attribute: "age", operation: "REMOVE_ALL" as const, values: [] }],
    });
    const del = (anchor: string) => ({
      id: `d${anchor}`,
      changeType: "DELETE" as const,
      objectType: "person",
      anchor,
      attributes: [],
    });
    const results = await c.export([
      update("001", "One", ["a", "b"]),
      update("404", "Nobody", []),
      update("002", "Two", []),
      del("003"),
      del("405"),
      del("004"),
    ]);
    expect(results.map((r) => [r.id, r.status === "APPLIED" ? r.anchor : r.code])).toEqual([
      ["u001", "001"],
      ["u404", "NOT_FOUND"],
      ["u002", "002"],
      ["d003", "003"],
      ["d405", "405"],
      ["d004", "004"],
    ]);
    const { rows } = await target.admin.query("SELECT id, name, age, groups FROM people_runs ORDER BY id");
    expect(rows).toEqual([
      { id: "001", name: "One", age: null, groups: ["a", "b"] },
      { id: "002", name: "Two", age: null, groups: null },
      { id: "005", name: "Person 5", age: 25, groups: ["staff", "g2"] },
      { id: "006", name: "Person 6", age: 26, groups: ["staff", "g0"] },
    ]);
  });
});
