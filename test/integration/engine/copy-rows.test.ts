import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../../src/db.ts";
import { type CopyValue, copyRows } from "../../../src/engine/copy.ts";
import { createTestDatabase } from "../../helpers/database.ts";

// Every bulk write of the engine goes through copyRows: what PostgreSQL stores must be exactly
// the values given, whatever their characters, size or place in the stream of chunks.
let db: Database;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query("CREATE TABLE copied (n int PRIMARY KEY, a text, b text)");
});
afterAll(() => db.close());

async function roundTrip(rows: [number, CopyValue, CopyValue][]) {
  await db.pool.query("TRUNCATE copied");
  const client = await db.pool.connect();
  try {
    await client.query("BEGIN");
    await copyRows(client, "copied", ["n", "a", "b"], rows, (r) => [String(r[0]), r[1], r[2]]);
    await client.query("COMMIT");
  } finally {
    client.release();
  }
  const { rows: stored } = await db.pool.query<{ n: number; a: string | null; b: string | null }>(
    "SELECT n, a, b FROM copied ORDER BY n",
  );
  return stored.map((r) => [r.n, r.a, r.b]);
}

describe("copyRows", () => {
  it("stores escapes, NULLs, text outside ASCII and surrogate pairs exactly, across many chunks", async () => {
    const rows: [number, CopyValue, CopyValue][] = [];
    for (let n = 0; n < 20_000; n++) {
      const a = n % 7 === 0 ? null : `Zoë Ñúñez-${n}\t"tab"\\back\\slash\nnew\rline 李${n} 😀`;
      const b = n % 5 === 0 ? "" : n % 11 === 0 ? "\\N" : `{"sn":["Müller ${n}"]}`;
      rows.push([n, a, b]);
    }
    expect(await roundTrip(rows)).toEqual(rows);
  });

  it("sends a row larger than a chunk whole, between rows before and after it", async () => {
    const members = Array.from({ length: 20_000 }, (_, i) => `uid=ü${i},ou=people,dc=example,dc=org`).join("\n");
    const rows: [number, CopyValue, CopyValue][] = [
      [1, "before", "ascii"],
      [2, members, `${"é".repeat(70_000)}`],
      [3, "after", null],
    ];
    const stored = await roundTrip(rows);
    expect(stored).toEqual(rows);
    expect(String(stored[1]![1]).length).toBe(members.length);
  });

  it("writes nothing for no rows", async () => {
    expect(await roundTrip([])).toEqual([]);
  });

  it("fails the statement on a bad value without leaving the caller waiting", async () => {
    await expect(roundTrip([[1, "x", "y"], [Number.NaN, "bad", "int"] as never])).rejects.toThrow(/integer/);
  });
});
