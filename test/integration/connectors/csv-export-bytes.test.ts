import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ExportChange } from "../../../src/connectors/connector.ts";
import { type CsvConfig, CsvConfigSchema } from "../../../src/connectors/csv/config.ts";
import { CsvExportSession } from "../../../src/connectors/csv/writer.ts";

// An export session keeps where the file's rows are, not their text: untouched bytes are copied
// from the file as they are, in whatever encoding, and the rows a change touches are read back.
const dir = mkdtempSync(path.join(tmpdir(), "metasync-csv-bytes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;

function fileWith(bytes: Buffer | string, options: Partial<CsvConfig> = {}) {
  const file = path.join(dir, `f-${++fileCount}.csv`);
  writeFileSync(file, bytes);
  const config = CsvConfigSchema.parse({ path: file, anchor: "id", ...options });
  return { file, config, session: (maxHeldChars?: number) => new CsvExportSession(async () => config, maxHeldChars) };
}

const update = (id: string, anchor: string, name: string): ExportChange => ({
  id,
  changeType: "UPDATE",
  objectType: "person",
  anchor,
  attributes: [{ attribute: "name", operation: "REPLACE", values: [name] }],
});
const create = (id: string, anchor: string, name: string): ExportChange => ({
  ...update(id, anchor, name),
  changeType: "CREATE",
});
const remove = (id: string, anchor: string): ExportChange => ({
  id,
  changeType: "DELETE",
  objectType: "person",
  anchor,
  attributes: [],
});

describe("CSV export session: the file's bytes", () => {
  it("keeps a byte order mark, blank lines, odd quoting and a duplicate row byte for byte, and appends after a last row without a line break", async () => {
    const start = '\uFEFFid,name\n1,"Ann"\n\n2,  Bob \n1,"duplicate, kept"\n3,"Cy ""C"""';
    const { file, session } = fileWith(start);
    const s = session();
    const results = await s.export([update("u", "2", "Bo"), remove("d", "3"), create("c", "4", "Di")]);
    expect(results.map((r) => r.status)).toEqual(["APPLIED", "APPLIED", "APPLIED"]);
    await s.commit();
    expect(readFileSync(file, "utf8")).toBe('\uFEFFid,name\n1,"Ann"\n\n2,Bo\n1,"duplicate, kept"\n4,Di\n');
    // The session goes on from the file it wrote: rows found where the rewrite put them.
    expect((await s.export([update("u2", "4", "Dee"), update("u3", "1", "Anne")])).map((r) => r.status)).toEqual([
      "APPLIED",
      "APPLIED",
    ]);
    await s.commit();
    expect(readFileSync(file, "utf8")).toBe('\uFEFFid,name\n1,Anne\n\n2,Bo\n1,"duplicate, kept"\n4,Dee\n');
  });

  it("rewrites latin1 and UTF-16 files in their own encoding", async () => {
    const latin = fileWith(Buffer.from("id,name\n1,Zoë\n2,Jürgen\n", "latin1"), { encoding: "latin1" });
    const l = latin.session();
    expect((await l.export([update("u", "2", "Jörg"), create("c", "3", "Åsa")])).map((r) => r.status)).toEqual([
      "APPLIED",
      "APPLIED",
    ]);
    await l.commit();
    expect(readFileSync(latin.file)).toEqual(Buffer.from("id,name\n1,Zoë\n2,Jörg\n3,Åsa\n", "latin1"));

    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("id,name\r\n1,Łucja\r\n2,Ōta\r\n", "utf16le")]);
    const wide = fileWith(utf16, { encoding: "utf16le" });
    const w = wide.session();
    expect((await w.export([update("u", "1", "Łucja Nowak"), remove("d", "2")])).map((r) => r.status)).toEqual([
      "APPLIED",
      "APPLIED",
    ]);
    await w.commit();
    expect(readFileSync(wide.file)).toEqual(
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("id,name\r\n1,Łucja Nowak\r\n", "utf16le")]),
    );
  });

  it("a file another writer changed between two batches fails the second, transient, and the next reads it anew", async () => {
    const { file, session } = fileWith("id,name\n1,Ann\n2,Bob\n");
    const s = session();
    await s.export([create("c", "3", "Cy")]);
    // Same size, other bytes: rows read by the old positions would be wrong.
    writeFileSync(file, "id,name\n2,Bob\n1,Ann\n");
    const [failed] = await s.export([update("u", "1", "Anne")]);
    expect(failed).toMatchObject({ status: "TRANSIENT_FAILURE", code: "INVALID_INPUT" });
    expect((await s.export([update("u", "1", "Anne")])).map((r) => r.status)).toEqual(["APPLIED"]);
    await s.commit();
    expect(readFileSync(file, "utf8")).toBe("id,name\n2,Bob\n1,Anne\n");
  });

  it("a commit is due once the rows held reach the session's limit, however large the file", async () => {
    const rows = Array.from({ length: 1000 }, (_, i) => `${i},Person ${i}\n`).join("");
    const { file, session } = fileWith(`id,name\n${rows}`);
    const s = session(80);
    await s.export([update("a", "5", "A long enough name to hold")]);
    expect(s.commitDue).toBe(false);
    await s.export([update("b", "6", "Another name of some length"), update("c", "7", "and a third one, too long")]);
    expect(s.commitDue).toBe(true);
    await s.commit();
    const text = readFileSync(file, "utf8");
    expect(text.split("\n").slice(6, 9)).toEqual([
      "5,A long enough name to hold",
      "6,Another name of some length",
      '7,"and a third one, too long"',
    ]);
    expect(text.split("\n")).toHaveLength(1002);
  });

  it("reads back and copies rows longer than its read windows", async () => {
    const long = "x".repeat(200 * 1024);
    const { file, session } = fileWith(`id,name\n1,${long}\n2,${long}y\n3,short\n`);
    const s = session();
    const results = await s.export([update("u", "2", `${long}z`), remove("d", "3")]);
    expect(results.map((r) => r.status)).toEqual(["APPLIED", "APPLIED"]);
    await s.commit();
    expect(readFileSync(file, "utf8")).toBe(`id,name\n1,${long}\n2,${long}z\n`);
  });

  it("refuses, and leaves as it is, a file whose rows do not add up to its bytes in its encoding", async () => {
    // A UTF-16 file cut one byte short: the decoder makes a character of the odd byte.
    const bytes = Buffer.concat([Buffer.from("id,name\n1,Ann\n", "utf16le"), Buffer.from([0x41])]);
    const { file, session } = fileWith(bytes, { encoding: "utf16le" });
    const [result] = await session().export([create("c", "2", "Bob")]);
    expect(result).toMatchObject({ status: "PERMANENT_FAILURE", code: "UNSUPPORTED" });
    expect(readFileSync(file)).toEqual(bytes);
  });
});
