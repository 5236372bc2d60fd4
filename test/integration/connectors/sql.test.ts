import net from "node:net";
import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector, ImportPage } from "../../../src/connectors/connector.ts";
import { ConnectorError } from "../../../src/connectors/connector.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import { freePort } from "../../../src/db/embedded-postgres.ts";
import { createTestDatabaseUrl } from "../../helpers/database.ts";
import { collect, MemoryImportContext } from "../../helpers/import-context.ts";

const deps = { logger: pino({ level: "silent" }) };
let url: string;
let admin: pg.Client;
const open: Connector[] = [];

beforeAll(async () => {
  url = await createTestDatabaseUrl();
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});
afterAll(async () => {
  for (const c of open) await c.close().catch(() => {});
  await admin.end();
});

async function sql(extra: Record<string, unknown>): Promise<Connector> {
  const c = await createConnector("SQL", { connectionString: url, anchor: "id", ...extra }, deps);
  open.push(c);
  return c;
}

/** A fresh `people` table (named `table`) with n rows, one second of updated_at apart. */
async function peopleTable(table: string, n: number): Promise<void> {
  await admin.query(`DROP TABLE IF EXISTS ${table}`);
  await admin.query(`CREATE TABLE ${table} (
    id text PRIMARY KEY, name text NOT NULL, mail varchar(20), age int, active boolean, groups text[],
    photo bytea, external_id uuid, updated_at timestamptz NOT NULL DEFAULT '2030-01-01')`);
  await admin.query(
    `INSERT INTO ${table} (id, name, mail, age, active, groups, photo, external_id, updated_at)
     SELECT lpad(i::text, 3, '0'), 'Person ' || i, CASE WHEN i % 5 <> 0 THEN 'p' || i || '@x' END, 20 + i, i % 2 = 0,
            ARRAY['staff', 'g' || i % 3], CASE WHEN i = 1 THEN '\\x0102ff'::bytea END,
            CASE WHEN i = 1 THEN 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid END,
            '2024-01-01 00:00:00.000001+00'::timestamptz + i * interval '1 second'
       FROM generate_series(1, $1) i`,
    [n],
  );
}

const anchorsOf = (pages: ImportPage[]) => pages.flatMap((p) => p.objects.map((o) => o.anchor));
const noContext = new MemoryImportContext();

async function expectError(work: Promise<unknown>, code: string, transient?: boolean) {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectorError);
  expect({ code: (error as ConnectorError).code, message: (error as ConnectorError).message }).toMatchObject({ code });
  if (transient !== undefined) expect((error as ConnectorError).transient).toBe(transient);
  return error as ConnectorError;
}

describe("SQL connector: import", () => {
  it("reads the table in keyset pages with values mapped to JSON-safe attributes and the watermark at the end", async () => {
    await peopleTable("people_full", 25);
    const c = await sql({ table: "people_full", pageSize: 10, watermarkColumn: "updated_at" });
    const pages = await collect(c.importFull(null, noContext));
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
    await peopleTable("people_resume", 12);
    const c = await sql({ table: "people_resume", pageSize: 5 });
    const all = await collect(c.importFull(null, noContext));
    const resumed = await collect(c.importFull(all[1]?.checkpoint ?? null, noContext));
    expect(anchorsOf(resumed)).toEqual(anchorsOf(all).slice(10));
  });

  it("fails with a transient CONNECTION_FAILED when the server drops the connection mid-import, and resumes without duplicates", async () => {
    await peopleTable("people_killed", 30);
    const c = await sql({ table: "people_killed", pageSize: 10 });
    const iterator = c.importFull(null, noContext)[Symbol.asyncIterator]();
    const first = (await iterator.next()) as IteratorResult<ImportPage, undefined>;
    expect(first.value?.objects).toHaveLength(10);
    const killed = await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'metasync' AND datname = current_database()",
    );
    expect(killed.rowCount).toBeGreaterThan(0);
    await expectError(iterator.next(), "CONNECTION_FAILED", true);
    const rest = await collect(c.importFull(first.value?.checkpoint ?? null, noContext));
    const anchors = [...anchorsOf(first.value ? [first.value] : []), ...anchorsOf(rest)];
    expect(anchors).toEqual(Array.from({ length: 30 }, (_, i) => String(i + 1).padStart(3, "0")));
  });

  it("delta import returns changed and added rows past the watermark and the deleted anchors", async () => {
    await peopleTable("people_delta", 8);
    const c = await sql({ table: "people_delta", pageSize: 2, watermarkColumn: "updated_at" });
    const engine = new MemoryImportContext();
    const full = await collect(c.importFull(null, engine));
    engine.apply(full, "full");
    await admin.query(
      "UPDATE people_delta SET name = 'Changed', updated_at = '2024-06-01 00:00:00.5+00' WHERE id IN ('003', '006')",
    );
    await admin.query("INSERT INTO people_delta (id, name, updated_at) VALUES ('009', 'New', '2024-06-01 00:00:01+00')");
    await admin.query("DELETE FROM people_delta WHERE id IN ('002', '007')");
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
    await peopleTable("people_schema", 1);
    const c = await sql({ table: "people_schema" });
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
  const replace = (attrs: Record<string, (string | number | boolean)[]>) =>
    Object.entries(attrs).map(([attribute, values]) => ({ attribute, operation: "REPLACE" as const, values }));

  it("applies create, update, rename and delete in one transaction with a result per change", async () => {
    await peopleTable("people_export", 3);
    const c = await sql({ table: "people_export" });
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
      { id: "c", status: "APPLIED", anchor: "100" },
      { id: "u", status: "APPLIED", anchor: "001" },
      { id: "r", status: "APPLIED", anchor: "200" },
      { id: "r2", status: "APPLIED", anchor: "300" },
      { id: "d", status: "APPLIED", anchor: "100" },
      { id: "c2", status: "APPLIED", anchor: "101" },
    ]);
    const { rows } = await admin.query("SELECT id, name, mail, active, groups FROM people_export ORDER BY id");
    expect(rows).toEqual([
      { id: "001", name: "Person 1", mail: null, active: true, groups: ["g1", "ops"] },
      { id: "101", name: "Kept", mail: null, active: null, groups: null },
      { id: "200", name: "Renamed", mail: "p2@x", active: true, groups: ["staff", "g2"] },
      { id: "300", name: "Person 3", mail: "p3@x", active: false, groups: ["staff", "g0"] },
    ]);
    expect(c.capabilities.rename).toBe(true);
  });

  it("gives each bad row its own permanent failure while the rest of the batch commits", async () => {
    await peopleTable("people_bad", 2);
    const c = await sql({ table: "people_bad" });
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
      dup: "PERMANENT_FAILURE:ALREADY_EXISTS",
      null: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      type: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      long: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      col: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      many: "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      "gone-u": "PERMANENT_FAILURE:NOT_FOUND",
      "gone-d": "PERMANENT_FAILURE:NOT_FOUND",
      ok2: "APPLIED",
    });
    const { rows } = await admin.query("SELECT id, name, age FROM people_bad ORDER BY id");
    expect(rows).toEqual([
      { id: "001", name: "Person 1", age: 21 },
      { id: "002", name: "Two", age: 22 },
      { id: "010", name: "Ten", age: null },
    ]);
  });

  it("a long run of CREATEs with two bad rows: exactly those two fail, the others are inserted", async () => {
    await peopleTable("people_bulk", 1);
    const c = await sql({ table: "people_bulk" });
    const changes = Array.from({ length: 20 }, (_, i) => ({
      id: `c${i}`,
      changeType: "CREATE" as const,
      objectType: "person",
      anchor: i === 3 ? "001" : `n${String(i).padStart(2, "0")}`,
      attributes: replace(i === 15 ? { age: [1] } : { name: [`New ${i}`], groups: ["x", String(i)] }),
    }));
    const results = await c.export(changes);
    expect(results.filter((r) => r.status !== "APPLIED").map((r) => [r.id, "code" in r && r.code])).toEqual([
      ["c3", "ALREADY_EXISTS"],
      ["c15", "SCHEMA_VIOLATION"],
    ]);
    expect(results.map((r) => r.id)).toEqual(changes.map((ch) => ch.id));
    const { rows } = await admin.query("SELECT count(*)::int AS n, max(groups[2]) AS g FROM people_bulk WHERE id LIKE 'n%'");
    expect(rows[0]).toEqual({ n: 18, g: "9" });
  });

  it("runs of updates and deletes (one statement each) still report a missing row as NOT_FOUND", async () => {
    await peopleTable("people_runs", 6);
    const c = await sql({ table: "people_runs" });
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
      ["d405", "NOT_FOUND"],
      ["d004", "004"],
    ]);
    const { rows } = await admin.query("SELECT id, name, age, groups FROM people_runs ORDER BY id");
    expect(rows).toEqual([
      { id: "001", name: "One", age: null, groups: ["a", "b"] },
      { id: "002", name: "Two", age: null, groups: null },
      { id: "005", name: "Person 5", age: 25, groups: ["staff", "g2"] },
      { id: "006", name: "Person 6", age: 26, groups: ["staff", "g0"] },
    ]);
  });

  it("returns the anchor the database assigns and quotes every identifier", async () => {
    await admin.query(`CREATE TABLE "Odd ""Table""" ("key" serial PRIMARY KEY, "select" text UNIQUE, "user name" text)`);
    const c = await sql({ table: 'Odd "Table"', anchor: "key" });
    const results = await c.export([
      { id: "a", changeType: "CREATE", objectType: "person", attributes: replace({ select: ["s1"], "user name": ["Ann"] }) },
      { id: "b", changeType: "CREATE", objectType: "person", attributes: replace({ select: ["s2"] }) },
    ]);
    expect(results).toEqual([
      { id: "a", status: "APPLIED", anchor: "1" },
      { id: "b", status: "APPLIED", anchor: "2" },
    ]);
    const [page] = await collect(c.importFull(null, noContext));
    expect(page?.objects.map((o) => o.attributes)).toEqual([
      { key: 1, select: "s1", "user name": "Ann" },
      { key: 2, select: "s2" },
    ]);
  });
});

describe("SQL connector: errors", () => {
  const withUrl = (change: (u: URL) => void) => {
    const u = new URL(url);
    change(u);
    return u.toString();
  };

  it("wrong credentials are AUTH_FAILED and not transient", async () => {
    const c = await sql({ table: "people_full", connectionString: withUrl((u) => (u.password = "wrong")) });
    await expectError(c.testConnection(), "AUTH_FAILED", false);
    await expectError(collect(c.importFull(null, noContext)), "AUTH_FAILED", false);
    const [result] = await c.export([{ id: "x", changeType: "DELETE", objectType: "person", anchor: "001", attributes: [] }]);
    expect(result).toMatchObject({ id: "x", status: "PERMANENT_FAILURE", code: "AUTH_FAILED" });
  });

  it("a server that is down is a transient CONNECTION_FAILED, for imports and for every change of an export", async () => {
    const port = await freePort();
    const c = await sql({ table: "people_full", connectionString: withUrl((u) => (u.port = String(port))) });
    await expectError(c.testConnection(), "CONNECTION_FAILED", true);
    await expectError(collect(c.importFull(null, noContext)), "CONNECTION_FAILED", true);
    const results = await c.export([
      { id: "1", changeType: "DELETE", objectType: "person", anchor: "001", attributes: [] },
      { id: "2", changeType: "DELETE", objectType: "person", anchor: "002", attributes: [] },
    ]);
    expect(results.map((r) => [r.id, r.status, r.status !== "APPLIED" && r.code])).toEqual([
      ["1", "TRANSIENT_FAILURE", "CONNECTION_FAILED"],
      ["2", "TRANSIENT_FAILURE", "CONNECTION_FAILED"],
    ]);
  });

  it("a server that accepts the connection but never answers is a transient TIMEOUT within the timeout", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const c = await sql({ table: "people_full", timeoutMs: 300, connectionString: withUrl((u) => (u.port = String(port))) });
      const started = Date.now();
      await expectError(c.testConnection(400), "TIMEOUT", true);
      await expectError(collect(c.importFull(null, noContext)), "TIMEOUT", true);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it("a query over the statement timeout is a transient TIMEOUT", async () => {
    await admin.query("CREATE VIEW slow_people AS SELECT id, pg_sleep(0.3)::text AS nap FROM people_full");
    const c = await sql({ table: "slow_people", timeoutMs: 200 });
    await expectError(collect(c.importFull(null, noContext)), "TIMEOUT", true);
  });

  it("a missing table, database or column is a permanent NOT_FOUND / SCHEMA_VIOLATION", async () => {
    await expectError((await sql({ table: "nope" })).testConnection(), "NOT_FOUND", false);
    await expectError(collect((await sql({ table: "nope" })).importFull(null, noContext)), "NOT_FOUND", false);
    const noDb = await sql({ table: "people_full", connectionString: withUrl((u) => (u.pathname = "/no_such_db")) });
    await expectError(noDb.testConnection(), "NOT_FOUND", false);
    await expectError((await sql({ table: "people_full", anchor: "uid" })).discoverSchema(), "SCHEMA_VIOLATION", false);
    await expectError(collect((await sql({ table: "people_full" })).importDelta(null, null, noContext)), "UNSUPPORTED", false);
    await expectError(sql({ table: "people_full", connectionString: "mysql://x" }), "INVALID_INPUT", false);
  });
});
