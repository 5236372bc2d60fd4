import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { Connector, ExportChange } from "../../../src/connectors/connector.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import { collect, MemoryImportContext } from "../../helpers/import-context.ts";

const dir = mkdtempSync(path.join(tmpdir(), "metasync-csv-export-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const deps = { logger: pino({ level: "silent" }) };
let fileCount = 0;

async function setup(content: string | null): Promise<{ file: string; csv: Connector }> {
  const file = path.join(dir, `out-${++fileCount}.csv`);
  if (content !== null) writeFileSync(file, content);
  const csv = await createConnector("CSV", { path: file, anchor: "id", multiValued: ["groups"] }, deps);
  return { file, csv };
}

const create = (id: string, anchor: string, attrs: Record<string, string[]>): ExportChange => ({
  id,
  changeType: "CREATE",
  objectType: "person",
  anchor,
  attributes: Object.entries(attrs).map(([attribute, values]) => ({ attribute, operation: "REPLACE", values })),
});

async function rowsOf(csv: Connector) {
  const pages = await collect(csv.importFull(null, new MemoryImportContext()));
  return Object.fromEntries(pages.flatMap((p) => p.objects).map((o) => [o.anchor, o.attributes]));
}

const START = 'id,name,mail,groups\r\n1,Ann,ann@x,staff|admins\r\n2,"Bob, Jr",bob@x,staff\r\n3,Cy,cy@x,\r\n';

describe("CSV connector: export", () => {
  it("applies creates, updates and deletes in one atomic rewrite and keeps untouched rows byte for byte", async () => {
    const { file, csv } = await setup(START);
    const before = statSync(file);
    const results = await csv.export([
      create("c1", "4", { name: ['Di "D", Esq'], mail: ["di@x"], groups: ["g1", "g2"] }),
      {
        id: "u1",
        changeType: "UPDATE",
        objectType: "person",
        anchor: "1",
        attributes: [
          { attribute: "groups", operation: "REMOVE", values: ["admins"] },
          { attribute: "groups", operation: "ADD", values: ["ops"] },
          { attribute: "mail", operation: "REMOVE_ALL", values: [] },
        ],
      },
      { id: "d1", changeType: "DELETE", objectType: "person", anchor: "3", attributes: [] },
    ]);
    expect(results).toEqual([
      { id: "c1", status: "APPLIED", anchor: "4" },
      { id: "u1", status: "APPLIED", anchor: "1" },
      { id: "d1", status: "APPLIED", anchor: "3" },
    ]);
    expect(readFileSync(file, "utf8")).toBe(
      'id,name,mail,groups\r\n1,Ann,,staff|ops\r\n2,"Bob, Jr",bob@x,staff\r\n4,"Di ""D"", Esq",di@x,g1|g2\r\n',
    );
    expect(await rowsOf(csv)).toEqual({
      "1": { id: "1", name: "Ann", groups: ["staff", "ops"] },
      "2": { id: "2", name: "Bob, Jr", mail: "bob@x", groups: ["staff"] },
      "4": { id: "4", name: 'Di "D", Esq', mail: "di@x", groups: ["g1", "g2"] },
    });
    // A new file was renamed into place (new inode) and no temp file is left behind.
    expect(statSync(file).ino).not.toBe(before.ino);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("gives each failing change its own permanent failure and applies the others", async () => {
    const { file, csv } = await setup(START);
    const results = await csv.export([
      create("dup", "2", { name: ["Again"] }),
      { id: "missing-u", changeType: "UPDATE", objectType: "person", anchor: "9", attributes: [] },
      { id: "missing-d", changeType: "DELETE", objectType: "person", anchor: "9", attributes: [] },
      create("unknown-col", "5", { phone: ["1"] }),
      create("two-values", "6", { name: ["a", "b"] }),
      {
        id: "rename",
        changeType: "UPDATE",
        objectType: "person",
        anchor: "1",
        attributes: [{ attribute: "id", operation: "REPLACE", values: ["100"] }],
      },
      { id: "no-anchor", changeType: "CREATE", objectType: "person", attributes: [] },
      create("ok", "7", { name: ["Eve"] }),
    ]);
    const byId = Object.fromEntries(results.map((r) => [r.id, r.status === "APPLIED" ? "APPLIED" : `${r.status}:${r.code}`]));
    expect(byId).toEqual({
      dup: "PERMANENT_FAILURE:ALREADY_EXISTS",
      "missing-u": "PERMANENT_FAILURE:NOT_FOUND",
      "missing-d": "PERMANENT_FAILURE:NOT_FOUND",
      "unknown-col": "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      "two-values": "PERMANENT_FAILURE:SCHEMA_VIOLATION",
      rename: "PERMANENT_FAILURE:UNSUPPORTED",
      "no-anchor": "PERMANENT_FAILURE:INVALID_INPUT",
      ok: "APPLIED",
    });
    expect(Object.keys(await rowsOf(csv))).toEqual(["1", "2", "3", "7"]);
    expect(readFileSync(file, "utf8")).toContain("\r\n7,Eve,,\r\n");
    expect(csv.capabilities.rename).toBe(false);
  });

  it("runs changes to one anchor in batch order (create then update then delete)", async () => {
    const { csv } = await setup("id,name,mail,groups\n");
    const results = await csv.export([
      create("c", "1", { name: ["A"] }),
      {
        id: "u",
        changeType: "UPDATE",
        objectType: "person",
        anchor: "1",
        attributes: [{ attribute: "mail", operation: "ADD", values: ["a@x"] }],
      },
      create("c2", "2", { name: ["B"] }),
      { id: "d", changeType: "DELETE", objectType: "person", anchor: "2", attributes: [] },
    ]);
    expect(results.map((r) => r.status)).toEqual(["APPLIED", "APPLIED", "APPLIED", "APPLIED"]);
    expect(await rowsOf(csv)).toEqual({ "1": { id: "1", name: "A", mail: "a@x" } });
  });

  it("creates the file when it does not exist yet: anchor column first, then the created attributes", async () => {
    const { file, csv } = await setup(null);
    const results = await csv.export([
      create("c", "1", { name: ["A"], groups: ["x", "y"] }),
      create("c2", "2", { mail: ["b@x"] }),
    ]);
    expect(results.every((r) => r.status === "APPLIED")).toBe(true);
    expect(readFileSync(file, "utf8")).toBe("id,groups,mail,name\n1,x|y,,A\n2,,b@x,\n");
  });

  it("refuses to rewrite a file holding a malformed row (it would be lost) and leaves it untouched", async () => {
    const content = "id,name,mail,groups\n1,Ann,a@x,\n2,broken\n";
    const { file, csv } = await setup(content);
    const results = await csv.export([create("c", "3", { name: ["C"] })]);
    expect(results).toEqual([
      { id: "c", status: "PERMANENT_FAILURE", code: "INVALID_INPUT", message: expect.stringContaining(":3") },
    ]);
    expect(readFileSync(file, "utf8")).toBe(content);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("serialises concurrent export batches: neither loses the other's rows", async () => {
    const { csv } = await setup("id,name,mail,groups\n");
    await Promise.all([
      csv.export([create("a", "1", { name: ["A"] })]),
      csv.export([create("b", "2", { name: ["B"] })]),
      csv.export([create("c", "3", { name: ["C"] })]),
    ]);
    expect(Object.keys(await rowsOf(csv)).sort()).toEqual(["1", "2", "3"]);
    await csv.close();
  });

  it("a session applies batches in memory and writes the file once per commit; commitDue doubles the file", async () => {
    const { file, csv } = await setup(START);
    const session = csv.openExportSession!();
    expect(session.commitDue).toBe(false);
    expect(await session.export([create("a", "4", { name: ["D"] }), create("b", "5", { name: ["E"] })])).toEqual([
      { id: "a", status: "APPLIED", anchor: "4" },
      { id: "b", status: "APPLIED", anchor: "5" },
    ]);
    // Two changes on a three-row file: not due, and nothing is in the file yet.
    expect(session.commitDue).toBe(false);
    expect(readFileSync(file, "utf8")).toBe(START);
    await session.export([{ id: "d", changeType: "DELETE", objectType: "person", anchor: "4", attributes: [] }]);
    expect(session.commitDue).toBe(true);
    await session.commit();
    expect(session.commitDue).toBe(false);
    expect(readFileSync(file, "utf8")).toBe(`${START}5,E,,\r\n`);
    // Aborted: what was applied since the commit never reaches the file.
    await session.export([create("c", "6", { name: ["F"] })]);
    await session.abort();
    await session.commit();
    expect(readFileSync(file, "utf8")).toBe(`${START}5,E,,\r\n`);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("a session never writes over a file another writer changed since it read it: the commit fails, transient", async () => {
    const { file, csv } = await setup(START);
    const session = csv.openExportSession!();
    await session.export([create("a", "4", { name: ["D"] })]);
    const edited = `${START}9,Hand,,\r\n`;
    writeFileSync(file, edited);
    await expect(session.commit()).rejects.toMatchObject({ code: "INVALID_INPUT", transient: true });
    expect(readFileSync(file, "utf8")).toBe(edited);
    // The next batch starts from the file as it is now.
    await session.export([create("a", "4", { name: ["D"] })]);
    await session.commit();
    expect(readFileSync(file, "utf8")).toBe(`${edited}4,D,,\r\n`);
  });

  it("a CREATE meeting the very row it writes (its outcome lost in a crash) is applied again; another row is ALREADY_EXISTS", async () => {
    const { csv } = await setup(START);
    const again = create("again", "2", { name: ["Bob, Jr"], mail: ["bob@x"], groups: ["staff"] });
    const other = create("other", "3", { name: ["Someone else"] });
    const results = await csv.export([again, other]);
    expect(results.map((r) => (r.status === "APPLIED" ? r.status : r.code))).toEqual(["APPLIED", "ALREADY_EXISTS"]);
    expect(Object.keys(await rowsOf(csv))).toEqual(["1", "2", "3"]);
  });
});
