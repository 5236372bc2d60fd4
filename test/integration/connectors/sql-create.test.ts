import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector } from "../../../src/connectors/connector.ts";
import { collect } from "../../helpers/import-context.ts";
import { startLossyProxy } from "../../helpers/lossy-proxy.ts";
import { SqlHarness } from "../../helpers/sql-harness.ts";

// SQL connector CREATEs that meet a row already there (their own insert whose reply was lost, or
// someone else's), and anchors the database assigns: each result carries the row as an import reads it.
const target = new SqlHarness();
beforeAll(() => target.start());
afterAll(() => target.stop());

/** Every object a full import of `c` reads, by anchor. */
async function importedByAnchor(c: Connector) {
  const pages = await collect(c.importFull(null, target.noContext));
  return new Map(pages.flatMap((p) => p.objects).map((o) => [o.anchor, o.attributes]));
}

describe("SQL connector: CREATE results", () => {
  const replace = (attrs: Record<string, (string | number | boolean)[]>) =>
    Object.entries(attrs).map(([attribute, values]) => ({ attribute, operation: "REPLACE" as const, values }));

  it("a CREATE committed but whose reply was lost: the retried batch joins the rows and is APPLIED", async () => {
    await target.peopleTable("people_lost", 0);
    const url = new URL(target.url);
    const proxy = await startLossyProxy(Number(url.port), url.hostname);
    try {
      url.port = String(proxy.port);
      const c = await target.sql({ table: "people_lost", connectionString: url.toString() });
      const changes = ["101", "102", "103"].map((anchor) => ({
        id: `c${anchor}`,
        changeType: "CREATE" as const,
        objectType: "person",
        anchor,
        attributes: replace({ name: [`New ${anchor}`], groups: ["a", anchor] }),
      }));
      // The COMMIT reaches the server, its answer never reaches the connector.
      proxy.loseReplyTo((chunk) => chunk[0] === 0x51 && chunk.includes("COMMIT"));
      const first = await c.export(changes);
      expect(first.map((r) => r.status)).toEqual(["TRANSIENT_FAILURE", "TRANSIENT_FAILURE", "TRANSIENT_FAILURE"]);
      const committed = await target.admin.query("SELECT id, xmin::text FROM people_lost ORDER BY id");
      expect(committed.rows.map((r) => r.id)).toEqual(["101", "102", "103"]);

      const retry = await c.export(changes);
      // Each joined row reported as an import reads it.
      const read = await importedByAnchor(c);
      expect(retry).toEqual(
        changes.map((ch) => ({ id: ch.id, status: "APPLIED", anchor: ch.anchor, attributes: read.get(ch.anchor) })),
      );
      expect(read.get("101")).toMatchObject({ name: "New 101", groups: ["a", "101"] });
      // Nothing differed: no row was written again.
      expect((await target.admin.query("SELECT id, xmin::text FROM people_lost ORDER BY id")).rows).toEqual(committed.rows);
    } finally {
      await proxy.close();
    }
  });

  it("a CREATE meeting a row someone else inserted updates only the columns that differ", async () => {
    await target.peopleTable("people_prior", 2);
    const before = await target.admin.query("SELECT xmin::text FROM people_prior WHERE id = '002'");
    const c = await target.sql({ table: "people_prior" });
    const results = await c.export([
      {
        id: "a",
        changeType: "CREATE",
        objectType: "person",
        anchor: "001",
        attributes: replace({ name: ["Changed"], age: [21] }),
      },
      { id: "b", changeType: "CREATE", objectType: "person", anchor: "002", attributes: replace({ name: ["Person 2"] }) },
      { id: "n", changeType: "CREATE", objectType: "person", anchor: "003", attributes: replace({ name: ["New"] }) },
    ]);
    // Each row reported whole, as an import reads it: the columns the CREATE does not set included.
    const read = await importedByAnchor(c);
    expect(results).toEqual(
      ["a", "b", "n"].map((id, i) => {
        const anchor = `00${i + 1}`;
        return { id, status: "APPLIED", anchor, attributes: read.get(anchor) };
      }),
    );
    expect(read.get("001")).toMatchObject({ name: "Changed", mail: "p1@x", groups: ["staff", "g1"] });
    const { rows } = await target.admin.query("SELECT id, name, mail, age, groups FROM people_prior ORDER BY id");
    expect(rows).toEqual([
      // Columns the CREATE does not set (mail, groups) stay as the row had them.
      { id: "001", name: "Changed", mail: "p1@x", age: 21, groups: ["staff", "g1"] },
      { id: "002", name: "Person 2", mail: "p2@x", age: 22, groups: ["staff", "g2"] },
      { id: "003", name: "New", mail: null, age: null, groups: null },
    ]);
    // Row 002 already was as wanted: not written.
    expect((await target.admin.query("SELECT xmin::text FROM people_prior WHERE id = '002'")).rows).toEqual(before.rows);
  });

  it("returns the anchor the database assigns and quotes every identifier", async () => {
    await target.admin.query(`CREATE TABLE "Odd ""Table""" ("key" serial PRIMARY KEY, "select" text UNIQUE, "user name" text)`);
    const c = await target.sql({ table: 'Odd "Table"', anchor: "key" });
    const results = await c.export([
      { id: "a", changeType: "CREATE", objectType: "person", attributes: replace({ select: ["s1"], "user name": ["Ann"] }) },
      { id: "b", changeType: "CREATE", objectType: "person", attributes: replace({ select: ["s2"] }) },
    ]);
    const imported = [
      { key: 1, select: "s1", "user name": "Ann" },
      { key: 2, select: "s2" },
    ];
    // Each CREATE reports its row as the import then reads it (the serial key included).
    expect(results).toEqual([
      { id: "a", status: "APPLIED", anchor: "1", attributes: imported[0] },
      { id: "b", status: "APPLIED", anchor: "2", attributes: imported[1] },
    ]);
    const [page] = await collect(c.importFull(null, target.noContext));
    expect(page?.objects.map((o) => o.attributes)).toEqual(imported);
  });
});
