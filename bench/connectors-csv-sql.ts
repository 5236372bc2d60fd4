/**
 * Throughput of the CSV and SQL connectors on this machine:
 *   npx tsx bench/connectors-csv-sql.ts [rows=100000] [exportRows=20000]
 * CSV rows/s parsed by importFull (and a hash delta over the same file, and an export batch
 * rewriting it); SQL rows/s read by importFull and written by export, on an embedded PostgreSQL
 * in a temp dir. Peak RSS is the process's max resident set after each phase.
 */

import { once } from "node:events";
import { chmodSync, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import type { Connector, ExportChange, ImportContext } from "../src/connectors/connector.ts";
import { contentHash } from "../src/connectors/content-hash.ts";
import { createConnector } from "../src/connectors/index.ts";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";

const ROWS = Number(process.argv[2] ?? 100_000);
const EXPORT_ROWS = Number(process.argv[3] ?? 20_000);
const BATCH = 1000;
const deps = { logger: pino({ level: "silent" }), fileRoots: [tmpdir()] };
const dir = mkdtempSync(path.join(tmpdir(), "metasync-bench-"));
chmodSync(dir, 0o755);

const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
const results: Record<string, string | number> = {};

function report(name: string, rows: number, ms: number) {
  const rate = Math.round((rows / ms) * 1000);
  results[name] = `${rate} rows/s (${rows} rows in ${(ms / 1000).toFixed(2)} s, peak RSS ${peakRssMb()} MB)`;
  console.log(`${name}: ${results[name]}`);
}

async function timeImport(name: string, pages: AsyncIterable<{ objects: unknown[] }>) {
  const started = performance.now();
  let rows = 0;
  for await (const page of pages) rows += page.objects.length;
  report(name, rows, performance.now() - started);
  return rows;
}

/** The engine's side of a delta: every row's hash as a full import stored it. */
function memoryContext(stored: Map<string, string>): ImportContext {
  return {
    storedHashes: async (_t, anchors) => new Map(anchors.filter((a) => stored.has(a)).map((a) => [a, stored.get(a)!])),
    storedAnchors: async function* () {
      const all = [...stored.keys()];
      for (let i = 0; i < all.length; i += BATCH) yield all.slice(i, i + BATCH);
    },
  };
}

async function benchCsv() {
  const file = path.join(dir, "people.csv");
  const out = createWriteStream(file);
  out.write("id,givenName,sn,mail,department,groups\n");
  for (let i = 1; i <= ROWS; i++) {
    const line = `E${String(i).padStart(7, "0")},Given${i},"Surname, ${i}",user${i}@example.org,Dept ${i % 50},staff|team${i % 20}|site${i % 7}\n`;
    if (!out.write(line)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  const csv = await createConnector("CSV", { path: file, anchor: "id", multiValued: ["groups"], pageSize: BATCH }, deps);
  await timeImport("CSV importFull (parsed)", csv.importFull(null, memoryContext(new Map())));
  // What the engine stored after that import (hashing is the engine's cost there, not timed).
  const stored = new Map<string, string>();
  for await (const page of csv.importFull(null, memoryContext(stored)))
    for (const o of page.objects) stored.set(o.anchor, contentHash(o.attributes));
  // 1% of rows changed: the delta reads and hashes every row, emits the changed ones.
  for (let i = 1; i <= ROWS; i += 100) stored.set(`E${String(i).padStart(7, "0")}`, "stale");
  let started = performance.now();
  let emitted = 0;
  for await (const page of csv.importDelta(null, null, memoryContext(stored))) emitted += page.objects.length;
  report(`CSV importDelta (every row read and hashed, ${emitted} emitted)`, ROWS, performance.now() - started);
  const changes: ExportChange[] = [];
  for (let i = 1; i <= Math.min(EXPORT_ROWS, ROWS); i++) {
    changes.push({
      id: String(i),
      changeType: "UPDATE",
      objectType: "person",
      anchor: `E${String(i * Math.floor(ROWS / Math.min(EXPORT_ROWS, ROWS))).padStart(7, "0")}`,
      attributes: [{ attribute: "department", operation: "REPLACE", values: ["Moved"] }],
    });
  }
  started = performance.now();
  const res = await csv.export(changes);
  if (res.some((r) => r.status !== "APPLIED"))
    throw new Error(`csv export failed: ${JSON.stringify(res.find((r) => r.status !== "APPLIED"))}`);
  report(
    `CSV export (${changes.length} updates, one rewrite of the ${ROWS}-row file)`,
    changes.length,
    performance.now() - started,
  );
  await csv.close();
}

async function benchSql() {
  const server = await startEmbeddedPostgres(path.join(dir, "pg"), "bench");
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  let sql: Connector | null = null;
  try {
    await admin.query(`CREATE TABLE people (id text PRIMARY KEY, given_name text NOT NULL, sn text, mail text, department text,
      groups text[], active boolean, updated_at timestamptz NOT NULL DEFAULT now())`);
    await admin.query(
      `INSERT INTO people SELECT 'E' || lpad(i::text, 7, '0'), 'Given' || i, 'Surname ' || i, 'user' || i || '@example.org',
         'Dept ' || i % 50, ARRAY['staff', 'team' || i % 20], i % 2 = 0, now() FROM generate_series(1, $1) i`,
      [ROWS],
    );
    await admin.query("ANALYZE people");
    sql = await createConnector("SQL", { connectionString: server.url, table: "people", anchor: "id", pageSize: BATCH }, deps);
    await timeImport("SQL importFull (read)", sql.importFull(null, memoryContext(new Map())));

    const creates = (from: number, n: number): ExportChange[] =>
      Array.from({ length: n }, (_, k) => ({
        id: String(from + k),
        changeType: "CREATE",
        objectType: "person",
        anchor: `N${String(from + k).padStart(7, "0")}`,
        attributes: [
          { attribute: "given_name", operation: "REPLACE", values: [`New${from + k}`] },
          { attribute: "mail", operation: "REPLACE", values: [`new${from + k}@example.org`] },
          { attribute: "groups", operation: "REPLACE", values: ["staff", "new"] },
        ],
      }));
    let started = performance.now();
    for (let i = 0; i < EXPORT_ROWS; i += BATCH) {
      const res = await sql.export(creates(i, Math.min(BATCH, EXPORT_ROWS - i)));
      if (res.some((r) => r.status !== "APPLIED")) throw new Error("sql export failed");
    }
    report(`SQL export (written: creates, batches of ${BATCH})`, EXPORT_ROWS, performance.now() - started);

    started = performance.now();
    for (let i = 0; i < EXPORT_ROWS; i += BATCH) {
      const updates: ExportChange[] = Array.from({ length: Math.min(BATCH, EXPORT_ROWS - i) }, (_, k) => ({
        id: `u${i + k}`,
        changeType: "UPDATE",
        objectType: "person",
        anchor: `E${String(i + k + 1).padStart(7, "0")}`,
        attributes: [{ attribute: "department", operation: "REPLACE", values: ["Moved"] }],
      }));
      const res = await sql.export(updates);
      if (res.some((r) => r.status !== "APPLIED")) throw new Error("sql update export failed");
    }
    report(`SQL export (written: updates, batches of ${BATCH})`, EXPORT_ROWS, performance.now() - started);

    // One bad row per batch: the batch is re-run with a savepoint per change.
    started = performance.now();
    for (let i = 0; i < EXPORT_ROWS; i += BATCH) {
      const batch = creates(EXPORT_ROWS + i, Math.min(BATCH, EXPORT_ROWS - i));
      batch[0] = { ...batch[0]!, anchor: "E0000001" };
      const res = await sql.export(batch);
      if (res.filter((r) => r.status !== "APPLIED").length !== 1) throw new Error("sql export (savepoints) failed");
    }
    report("SQL export (written, one duplicate per batch: savepoint path)", EXPORT_ROWS, performance.now() - started);
  } finally {
    await sql?.close();
    await admin.end();
    await server.stop();
  }
}

try {
  console.log(`baseline: peak RSS ${peakRssMb()} MB after loading the modules`);
  await benchCsv();
  await benchSql();
  console.log(JSON.stringify({ rows: ROWS, exportRows: EXPORT_ROWS, peakRssMb: peakRssMb(), ...results }, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
