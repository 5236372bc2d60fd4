import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import iconv from "iconv-lite";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { Connector, ImportPage } from "../../../src/connectors/connector.ts";
import { contentHash } from "../../../src/connectors/content-hash.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import { expectError } from "../../helpers/connector-errors.ts";
import { collect, MemoryImportContext } from "../../helpers/import-context.ts";

const dir = mkdtempSync(path.join(tmpdir(), "metasync-csv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const deps = { logger: pino({ level: "silent" }) };
let fileCount = 0;

function csvFile(content: string | Buffer): string {
  const file = path.join(dir, `people-${++fileCount}.csv`);
  writeFileSync(file, content);
  return file;
}

function connector(file: string, extra: Record<string, unknown> = {}): Promise<Connector> {
  return createConnector("CSV", { path: file, anchor: "id", multiValued: ["groups"], ...extra }, deps);
}

function people(n: number, change: (i: number) => string = () => ""): string {
  const rows = ["id,name,mail,groups"];
  for (let i = 1; i <= n; i++)
    rows.push(`${String(i).padStart(3, "0")},Person ${i}${change(i)},p${i}@example.org,staff|g${i % 3}`);
  return rows.join("\n") + "\n";
}

const anchorsOf = (pages: ImportPage[]) => pages.flatMap((p) => p.objects.map((o) => o.anchor));
const noContext = new MemoryImportContext();

describe("CSV connector: full import", () => {
  it("streams every row in pages of pageSize, splits multi-valued columns, omits empty cells, ends with a watermark", async () => {
    const file = csvFile(`${people(24)}025,"Doe, ""Jo""\nSecond line",,\n`);
    const csv = await connector(file, { pageSize: 10 });
    const pages = await collect(csv.importFull(null, noContext));
    expect(pages.map((p) => p.objects.length)).toEqual([10, 10, 5]);
    expect(anchorsOf(pages)).toEqual(Array.from({ length: 25 }, (_, i) => String(i + 1).padStart(3, "0")));
    const attributes = { id: "001", name: "Person 1", mail: "p1@example.org", groups: ["staff", "g1"] };
    // Hashed by the connector as the engine would, so the engine need not hash again.
    const first = pages[0]!.objects[0]!;
    const { objectType, anchor, contentHash: hash } = first;
    // Read field by field: attributes are parsed on first read (a getter).
    expect({ objectType, anchor, attributes: first.attributes, contentHash: hash }).toEqual({
      objectType: "person",
      anchor: "001",
      attributes,
      contentHash: contentHash(attributes),
    });
    // A quoted cell keeps its delimiter, doubled quotes and line break; empty cells are absent.
    expect(pages[2]?.objects[4]?.attributes).toEqual({ id: "025", name: 'Doe, "Jo"\nSecond line' });
    expect(pages.slice(0, 2).every((p) => p.watermark === undefined)).toBe(true);
    expect(pages[2]?.watermark).toMatchObject({ size: expect.any(Number), mtimeMs: expect.any(Number) });
    expect(pages.flatMap((p) => p.errors)).toEqual([]);
  });

  it("reports each malformed row with file and line, and imports the other rows", async () => {
    const file = csvFile(
      'id,name,mail,groups\n001,Ann,a@x,\n002,Bob\n,No Anchor,n@x,\n003,Cy,c@x,\n001,Ann Again,a2@x,\n004,"Di",d@x,g\n',
    );
    const csv = await connector(file);
    const [page] = await collect(csv.importFull(null, noContext));
    expect(page?.objects.map((o) => o.anchor)).toEqual(["001", "003", "004"]);
    const name = path.basename(file);
    expect(page?.errors).toEqual([
      { location: `${name}:3`, code: "INVALID_INPUT", message: "expected 4 fields, found 2" },
      { location: `${name}:4`, code: "INVALID_INPUT", message: 'empty anchor column "id"' },
      { location: `${name}:6`, code: "INVALID_INPUT", message: expect.stringContaining('duplicate anchor "001"'), anchor: "001" },
    ]);
  });

  it("fails, located, at a quote never closed (rows after it would silently go missing), after the rows before it", async () => {
    const rows = ["id,name,mail,groups", "001,Ann,a@x,", '002,"Bob,b@x,'];
    for (let i = 3; i <= 3000; i++) rows.push(`${i},Row ${i},r@x,`);
    const file = csvFile(`${rows.join("\n")}\n`);
    const pages: ImportPage[] = [];
    const error = await expectError(
      (async () => {
        for await (const page of (await connector(file, { pageSize: 1 })).importFull(null, noContext)) pages.push(page);
      })(),
      "INVALID_INPUT",
      false,
    );
    expect(error.message).toBe(
      `${path.basename(file)}:3: a quote opened here is never closed; the rest of the file cannot be read`,
    );
    expect(anchorsOf(pages)).toEqual(["001"]);
  });

  it("resumes from a page's checkpoint with exactly the remaining rows", async () => {
    const file = csvFile(people(23));
    const csv = await connector(file, { pageSize: 10 });
    const first = await collect(csv.importFull(null, noContext));
    const resumed = await collect(csv.importFull(first[0]?.checkpoint ?? null, noContext));
    expect(anchorsOf(resumed)).toEqual(anchorsOf(first).slice(10));
    expect(resumed.at(-1)?.watermark).toEqual(first.at(-1)?.watermark);
    // The checkpoint of a file that changed since is not trusted: the import starts over.
    writeFileSync(file, people(24));
    const restarted = await collect(csv.importFull(first[0]?.checkpoint ?? null, noContext));
    expect(anchorsOf(restarted)).toHaveLength(24);
  });

  it("reads other delimiters, quotes and encodings", async () => {
    const file = csvFile(iconv.encode("id;name;groups\n1;'Zoë; Müller';a/b\n", "latin1"));
    const csv = await connector(file, { delimiter: ";", quote: "'", encoding: "latin1", valueSeparator: "/" });
    const [page] = await collect(csv.importFull(null, noContext));
    expect(page?.objects[0]?.attributes).toEqual({ id: "1", name: "Zoë; Müller", groups: ["a", "b"] });
    const bom = csvFile(iconv.encode("id,name\n1,Zoë\n", "utf16le", { addBOM: true }));
    const [utf16] = await collect((await connector(bom, { encoding: "utf16le" })).importFull(null, noContext));
    expect(utf16?.objects[0]?.attributes).toEqual({ id: "1", name: "Zoë" });
  });

  it("discovers the header as the schema: strings, anchor required, multi-valued from the config", async () => {
    const csv = await connector(csvFile(people(2)));
    expect(await csv.discoverSchema()).toEqual({
      objectTypes: [
        {
          name: "person",
          anchorAttribute: "id",
          attributes: [
            { name: "id", type: "STRING", multiValued: false, required: true },
            { name: "name", type: "STRING", multiValued: false, required: false },
            { name: "mail", type: "STRING", multiValued: false, required: false },
            { name: "groups", type: "STRING", multiValued: true, required: false },
          ],
        },
      ],
    });
    expect((await csv.testConnection()).message).toContain("4 columns");
  });
});

describe("CSV connector: delta import", () => {
  it("emits added and changed rows and deleted anchors, nothing for unchanged rows", async () => {
    const file = csvFile(people(10));
    const csv = await connector(file, { pageSize: 4 });
    const engine = new MemoryImportContext();
    const full = await collect(csv.importFull(null, engine));
    engine.apply(full, "full");
    // Change 003, delete 005 and 009, add 011.
    const lines = people(11, (i) => (i === 3 ? " (renamed)" : ""))
      .split("\n")
      .filter((l) => !l.startsWith("005,") && !l.startsWith("009,"));
    writeFileSync(file, lines.join("\n"));
    const delta = await collect(csv.importDelta(full.at(-1)?.watermark ?? null, null, engine));
    expect(anchorsOf(delta)).toEqual(["003", "011"]);
    expect(delta.flatMap((p) => p.objects)[0]?.attributes["name"]).toBe("Person 3 (renamed)");
    expect(delta.flatMap((p) => p.deletes)).toEqual([
      { objectType: "person", anchor: "005" },
      { objectType: "person", anchor: "009" },
    ]);
    expect(delta.at(-1)?.watermark).not.toEqual(full.at(-1)?.watermark);
    engine.apply(delta, "delta");
    // Nothing changed since: the file is not even read again.
    const again = await collect(csv.importDelta(delta.at(-1)?.watermark ?? null, null, engine));
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ objects: [], deletes: [], watermark: delta.at(-1)?.watermark });
    // Touched but identical content: read, compared, nothing emitted.
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const touched = await collect(csv.importDelta(delta.at(-1)?.watermark ?? null, null, engine));
    expect(touched.flatMap((p) => [...p.objects, ...p.deletes])).toEqual([]);
  });

  it("resumes a delta from a checkpoint without repeating or missing changes", async () => {
    const file = csvFile(people(12));
    const csv = await connector(file, { pageSize: 5 });
    const engine = new MemoryImportContext();
    engine.apply(await collect(csv.importFull(null, engine)), "full");
    writeFileSync(file, people(13, () => " v2").replace(/^007,.*\n/m, ""));
    const all = await collect(csv.importDelta(null, null, engine));
    const resumed = await collect(csv.importDelta(null, all[0]?.checkpoint ?? null, engine));
    expect(anchorsOf(all)).toHaveLength(12);
    expect([...anchorsOf(all.slice(0, 1)), ...anchorsOf(resumed)]).toEqual(anchorsOf(all));
    expect(resumed.flatMap((p) => p.deletes)).toEqual([{ objectType: "person", anchor: "007" }]);
  });

  it("detects no deletes while a row is malformed (its anchor is unknown)", async () => {
    const file = csvFile(people(3));
    const csv = await connector(file);
    const engine = new MemoryImportContext();
    engine.apply(await collect(csv.importFull(null, engine)), "full");
    writeFileSync(file, "id,name,mail,groups\n001,Person 1,p1@example.org,staff|g1\n002,broken\n");
    const delta = await collect(csv.importDelta(null, null, engine));
    expect(delta.flatMap((p) => p.deletes)).toEqual([]);
    expect(delta.flatMap((p) => p.errors).map((e) => e.message)).toEqual([
      "expected 4 fields, found 2",
      "1 malformed row(s): deletes are not detected until they are fixed",
    ]);
  });
});

describe("CSV connector: errors", () => {
  it("a missing file is NOT_FOUND, not transient", async () => {
    const csv = await connector(path.join(dir, "missing.csv"));
    await expectError(csv.testConnection(), "NOT_FOUND", false);
    await expectError(collect(csv.importFull(null, noContext)), "NOT_FOUND", false);
    await expectError(csv.discoverSchema(), "NOT_FOUND", false);
  });

  it("a header without the anchor column is a SCHEMA_VIOLATION", async () => {
    const csv = await connector(csvFile("uid,name\n1,a\n"));
    await expectError(collect(csv.importFull(null, noContext)), "SCHEMA_VIOLATION", false);
  });

  it("bytes that are not the configured encoding, an unknown encoding or a bad config are INVALID_INPUT", async () => {
    const latin1 = csvFile(iconv.encode("id,name\n1,Zoë\n", "latin1"));
    const error = await expectError(collect((await connector(latin1)).importFull(null, noContext)), "INVALID_INPUT", false);
    expect(error.message).toMatch(/not valid UTF-8/);
    await expectError(collect((await connector(latin1, { encoding: "klingon" })).importFull(null, noContext)), "INVALID_INPUT");
    await expectError(connector(latin1, { pageSize: 0 }), "INVALID_INPUT");
    await expectError(collect((await connector(csvFile(""))).importFull(null, noContext)), "INVALID_INPUT");
  });

  it("refuses a FIFO at once instead of blocking a thread of the pool on it", async () => {
    // open() of a FIFO nobody writes to waits for a writer: it used to hold one of libuv's four
    // threads until every other file operation (and every CSV connector) timed out.
    const fifo = path.join(dir, "hung.csv");
    execFileSync("mkfifo", [fifo]);
    const csv = await connector(fifo);
    const refused = await expectError(csv.testConnection(60_000), "BAD_USER_INPUT", false);
    expect(refused.message).toMatch(/not a regular file/);
    await expectError(collect(csv.importFull(null, noContext)), "BAD_USER_INPUT", false);
    // The pool is free: an ordinary file still reads.
    await (await connector(csvFile("id,name,groups\n1,Ann,\n"))).testConnection(60_000);
  });
});
