import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { contentHash } from "../../../src/connectors/content-hash.ts";
import { CsvConfigSchema } from "../../../src/connectors/csv/config.ts";
import { type CsvRow, readRows, WORKER_MIN_BYTES } from "../../../src/connectors/csv/rows.ts";
import { canonicalJson } from "../../../src/util/canonical-json.ts";
import { expectError } from "../../helpers/connector-errors.ts";

// The CSV reader runs in this thread for small files and in a worker thread from
// WORKER_MIN_BYTES on: both must give the same rows, hashes, located errors and failures.
const dir = mkdtempSync(path.join(tmpdir(), "metasync-csv-rows-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

function config(content: string, extra: Record<string, unknown> = {}) {
  const file = path.join(dir, `rows-${++count}.csv`);
  writeFileSync(file, content);
  return CsvConfigSchema.parse({ path: file, anchor: "id", multiValued: ["groups"], ...extra });
}

async function rows(source: AsyncIterable<CsvRow[]>): Promise<CsvRow[]> {
  const all: CsvRow[] = [];
  for await (const batch of source) all.push(...batch);
  return all;
}

const inThread = (c: ReturnType<typeof config>) => rows(readRows(c, 0));
const inWorker = (c: ReturnType<typeof config>) => rows(readRows(c, WORKER_MIN_BYTES));

describe("CSV rows, in this thread and in the worker", () => {
  it("give the same rows, with the engine's content hash whatever the column names and order", async () => {
    // Unsorted columns, array-index names ("2", "10": JavaScript lists those keys first), a
    // multi-valued column, quotes, escapes, a line break in a cell, blank lines, a duplicate.
    const c = config(
      'title,id,10,2,groups,name\nBoss,001,ten,two,a|b,"Doe, ""Jo""\nline 2"\n\n\nX,002,,,,\\\\ ü\t"\nX,001,,,,again\n',
    );
    const here = await inThread(c);
    expect(await inWorker(c)).toEqual(here);
    // De-duplicated in this thread against the caller's anchors (a delta needs them all).
    const anchors = new Set<string>();
    expect(await rows(readRows(c, WORKER_MIN_BYTES, anchors))).toEqual(here);
    expect([...anchors]).toEqual(["001", "002"]);
    expect(here).toEqual([
      {
        kind: "row",
        index: 0,
        line: 2,
        anchor: "001",
        json: canonicalJson({ "10": "ten", "2": "two", groups: ["a", "b"], id: "001", name: 'Doe, "Jo"\nline 2', title: "Boss" }),
        contentHash: expect.any(String),
        withoutSecrets: true,
      },
      {
        kind: "row",
        index: 1,
        line: 6,
        anchor: "002",
        json: canonicalJson({ id: "002", name: '\\\\ ü\t"', title: "X" }),
        contentHash: expect.any(String),
        withoutSecrets: true,
      },
      {
        kind: "error",
        index: 2,
        line: 7,
        error: {
          location: expect.stringMatching(/:7$/),
          code: "INVALID_INPUT",
          message: expect.stringContaining("duplicate anchor"),
          anchor: "001",
        },
      },
    ]);
    for (const row of here) if (row.kind === "row") expect(row.contentHash).toBe(contentHash(JSON.parse(row.json)));
  });

  it("say when the header names a directory secret (in any case), so that import seals it", async () => {
    const c = config("id,UserPassword,name\n001,{SSHA}x,Ann\n");
    for (const read of [inThread, inWorker]) expect(await read(c)).toMatchObject([{ anchor: "001", withoutSecrets: false }]);
  });

  it("write each row's JSON as JSON.stringify would write its attributes, whatever the column names", async () => {
    // The JSON is written from the cells, not from an object: names an object treats apart
    // (__proto__, constructor, array indexes up to 2^32 - 2, "01" which is none), names that need
    // escaping, a multi-valued cell of separators only (absent), a value with a separator.
    const header = ["id", "__proto__", "constructor", "4294967295", "4294967294", "01", "1", 'q"u\\o\u00e9', "groups", "a|b"];
    const c = config(
      `${header.map((h) => `"${h.replace(/"/g, '""')}"`).join(",")}\n1,p,c,big,index,zero,one,quoted,||,x|y\n2,,,,,,,,a||b,\n`,
    );
    const got = await inWorker(c);
    expect(await inThread(c)).toEqual(got);
    // What the reader built before: an object without prototype, keys set in sorted order.
    const stringified = (entries: [string, unknown][]) => {
      const attributes = Object.create(null) as Record<string, unknown>;
      for (const [k, v] of entries.sort(([x], [y]) => (x < y ? -1 : 1))) attributes[k] = v;
      return JSON.stringify(attributes);
    };
    const first: [string, unknown][] = [
      ...header.slice(0, 7).map((h, i): [string, unknown] => [h, ["1", "p", "c", "big", "index", "zero", "one"][i]]),
      ['q"u\\o\u00e9', "quoted"],
      ["a|b", "x|y"],
    ];
    expect(got.map((r) => (r.kind === "row" ? r.json : r))).toEqual([
      stringified(first),
      stringified([
        ["id", "2"],
        ["groups", ["a", "b"]],
      ]),
    ]);
    expect(JSON.parse((got[0] as { json: string }).json)).toEqual(Object.fromEntries(first));
  });

  it("hash rows as contentHash does when the columns are not in sorted order", async () => {
    const c = config("id,name,mail\n1,Ann,a@x\n2,Bob,\n");
    for (const row of await inWorker(c))
      if (row.kind === "row") {
        expect(row.json).toBe(canonicalJson(JSON.parse(row.json)));
        expect(row.contentHash).toBe(contentHash(JSON.parse(row.json)));
      }
  });

  it("locate malformed rows alike, and fail alike at an unclosed quote after the rows before it", async () => {
    const bad = config('id,name\n1,Ann\n2\n,No anchor\n3,"Cy\n4,Di\n');
    const rowsBefore: CsvRow[] = [];
    const error = await expectError(
      (async () => {
        for await (const batch of readRows(bad, WORKER_MIN_BYTES)) rowsBefore.push(...batch);
      })(),
      "INVALID_INPUT",
    );
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toMatch(/:5: a quote opened here is never closed/);
    expect(rowsBefore.map((r) => (r.kind === "row" ? r.anchor : r.error.location.split(":").pop()))).toEqual(["1", "3", "4"]);
    const here = await expectError(inThread(bad), "INVALID_INPUT");
    expect(here.message).toBe(error.message);
  });

  it("fail with the same typed errors for a missing file and bytes that are not UTF-8", async () => {
    const missing = CsvConfigSchema.parse({ path: path.join(dir, "missing.csv"), anchor: "id" });
    expect((await expectError(inWorker(missing), "NOT_FOUND")).code).toBe("NOT_FOUND");
    const latin = config("");
    writeFileSync(latin.path, Buffer.from("id,name\n1,Z\xebe\n", "latin1"));
    const error = await expectError(inWorker(latin), "INVALID_INPUT");
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toMatch(/not valid UTF-8/);
  });

  it("keep a character whose UTF-8 bytes are split between two reads of the file", async () => {
    // The file is read 256 KiB at a time: "€" (3 bytes) and "😀" (4 bytes) straddle the reads.
    const header = "id,name\n";
    const first = `1,${"a".repeat(256 * 1024 - header.length - 2 - 1)}€\n`;
    const before = Buffer.byteLength(header + first);
    const second = `2,${"b".repeat(512 * 1024 - before - 2 - 2)}😀\n`;
    const c = config(header + first + second);
    // Where each character starts: 1 byte before the first read ends, 2 before the second.
    expect(before - 4).toBe(256 * 1024 - 1);
    expect(Buffer.byteLength(header + first + second) - 5).toBe(512 * 1024 - 2);
    for (const read of [inThread(c), inWorker(c)]) {
      const names = (await read).map((r) =>
        r.kind === "row" ? [...(JSON.parse(r.json) as { name: string }).name].slice(-2).join("") : "error",
      );
      expect(names).toEqual(["a€", "b😀"]);
    }
  });

  it("read CRLF files, and a quoted cell with line breaks cut between two reads of the file", async () => {
    const crlf = config('id,name\r\n1,Ann\r\n\r\n2,"Bo\r\nB"\r\n3,Cy\r\n');
    for (const read of [inThread(crlf), inWorker(crlf)])
      expect((await read).map((r) => (r.kind === "row" ? [r.line, JSON.parse(r.json).name] : r))).toEqual([
        [2, "Ann"],
        [4, "Bo\r\nB"],
        [6, "Cy"],
      ]);
    const header = "id,name\n";
    const filler = `1,${"a".repeat(256 * 1024 - header.length - 10)}\n`;
    const cut = config(`${header}${filler}2,"x\ny\nz"\n3,w\n`);
    for (const read of [inThread(cut), inWorker(cut)])
      expect((await read).slice(1).map((r) => (r.kind === "row" ? [r.line, JSON.parse(r.json).name] : r))).toEqual([
        [3, "x\ny\nz"],
        [6, "w"],
      ]);
  });

  it("drop a UTF-8 byte order mark before the header", async () => {
    const c = config("\uFEFFid,name\n1,Ann\n");
    for (const read of [inThread(c), inWorker(c)])
      expect((await read).map((r) => (r.kind === "row" ? r.json : r))).toEqual([canonicalJson({ id: "1", name: "Ann" })]);
  });

  it("locate a quoted cell followed by other text, and go on after it", async () => {
    const c = config('id,name\n1,"Doe"x\n2,"Ann"\n3,Bo\n');
    for (const read of [inThread(c), inWorker(c)])
      expect((await read).map((r) => (r.kind === "row" ? r.anchor : `${r.line}: ${r.error.message}`))).toEqual([
        "2: a closing quote is not followed by the delimiter or a line break",
        "3",
      ]);
  });

  it("stop the worker's job when the reader stops early, and serve the next job", async () => {
    const lines = ["id,name"];
    for (let i = 0; i < 20000; i++) lines.push(`${i},Person ${i}`);
    const big = config(`${lines.join("\n")}\n`);
    for await (const batch of readRows(big, WORKER_MIN_BYTES)) {
      expect(batch.length).toBeGreaterThan(0);
      break;
    }
    const all = await inWorker(big);
    expect(all).toHaveLength(20000);
    expect(all.at(-1)).toMatchObject({ kind: "row", anchor: "19999", line: 20001 });
  });

  it("serve two files read at the same time from the one worker, each whole and in order", async () => {
    const file = (prefix: string) =>
      config(`id,name\n${Array.from({ length: 30_000 }, (_, i) => `${prefix}${i},Person ${i}`).join("\n")}\n`);
    const [a, b] = await Promise.all([inWorker(file("A")), inWorker(file("B"))]);
    for (const [rows, prefix] of [
      [a, "A"],
      [b, "B"],
    ] as const) {
      expect(rows.map((r) => (r.kind === "row" ? r.anchor : "error"))).toEqual(
        Array.from({ length: 30_000 }, (_, i) => `${prefix}${i}`),
      );
    }
  });
});
