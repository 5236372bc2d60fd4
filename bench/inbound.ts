// Inbound engine benchmark: full import, unchanged re-import, full sync (projection) and a
// delta cycle over N generated people, against embedded PostgreSQL, with a plain COPY of the
// same rows as the reference. Usage: npx tsx bench/inbound.ts [--size 100000] [--source csv]
// --source csv writes the people to a CSV file and reads it through the real CSV connector
// (parsing included; its delta import re-reads the whole file and compares content hashes).
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { from as copyFrom } from "pg-copy-streams";
import type { Connector, ConnectorObject, ImportPage } from "../src/connectors/connector.ts";
import { createConnector } from "../src/connectors/index.ts";
import { runEngine } from "../test/helpers/engine-run.ts";
import { openBenchServices } from "./harness.ts";

const { values } = parseArgs({
  options: { size: { type: "string", default: "100000" }, source: { type: "string", default: "generated" } },
});
const size = Number(values.size);

/** Generates people page by page: the source is never held in memory. */
class GeneratedSource implements Connector {
  readonly capabilities = { fullImport: true, deltaImport: true, export: false, schemaDiscovery: false, rename: false };
  constructor(
    private readonly n: number,
    private readonly variant = 0,
    private readonly changed = new Set<number>(),
  ) {}
  person(i: number): ConnectorObject {
    const v = this.changed.has(i) ? this.variant : 0;
    return {
      objectType: "person",
      anchor: `E${i}`,
      attributes: {
        id: `E${i}`,
        givenName: `Given${i}`,
        sn: `Surname${i}`,
        mail: `p${i}@example.org`,
        department: `D${(i + v) % 50}`,
        title: "Engineer",
      },
    };
  }
  async testConnection() {
    return { message: "ok" };
  }
  async discoverSchema() {
    return { objectTypes: [] };
  }
  async *importFull(): AsyncIterable<ImportPage> {
    for (let start = 0; start < this.n; start += 2000) {
      const objects = Array.from({ length: Math.min(2000, this.n - start) }, (_, k) => this.person(start + k));
      yield { objects, deletes: [], errors: [], checkpoint: { start: start + objects.length }, total: this.n };
    }
  }
  async *importDelta(): AsyncIterable<ImportPage> {
    yield {
      objects: [...this.changed].map((i) => this.person(i)),
      deletes: [],
      errors: [],
      checkpoint: null,
      watermark: { v: this.variant },
    };
  }
  async export() {
    return [];
  }
  async close() {}
}

const bench = await openBenchServices();
const { services } = bench;
const db = services.db;
/** The generated people's attributes: the CSV file's columns and the discovered schema. */
const COLUMNS = ["id", "givenName", "sn", "mail", "department", "title"];
const system = await services.systems.create({
  name: "hr",
  kind: "CSV",
  config: { path: path.join(bench.dir, "hr.csv"), anchor: "id" },
});
// The discovered schema, as refreshSchema stores it (the start gate requires one): every import
// validates each object against it.
await db.prisma.objectType.create({
  data: {
    connectedSystemId: system.id,
    name: "person",
    anchorAttribute: "id",
    attributes: {
      create: COLUMNS.map((name) => ({
        name,
        type: "STRING",
        required: name === "id",
      })),
    },
  },
});
await db.prisma.syncRule.create({
  data: {
    name: "hr-in",
    connectedSystemId: system.id,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
    attributeFlows: [
      { target: "employeeId", source: "id" },
      { target: "givenName", source: "givenName" },
      { target: "sn", source: "sn" },
      { target: "mail", source: "mail" },
      { target: "department", source: "department" },
      { target: "displayName", expression: "givenName & ' ' & sn" },
    ],
  },
});

let peakRss = 0;
let phaseRss = 0;
let phaseHeap = 0;
const sampler = setInterval(() => {
  const { rss, heapTotal } = process.memoryUsage();
  phaseHeap = Math.max(phaseHeap, heapTotal);
  peakRss = Math.max(peakRss, rss);
  phaseRss = Math.max(phaseRss, rss);
}, 50);
const results: { name: string; objects: number; seconds: number; perSecond: number; peakRssMb: number; heapMb: number }[] = [];
const trace = Boolean(process.env.BENCH_TRACE);
async function phase(name: string, objects: number, fn: () => Promise<unknown>) {
  phaseRss = 0;
  phaseHeap = 0;
  // Read before the clock starts and after it stops: scanning /proc is not the phase's time.
  const pg0 = trace ? postgresCpuSeconds() : 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  if (trace) {
    const cpu = process.cpuUsage(cpu0);
    console.error(
      `${name} (from ${(t0 / 1000).toFixed(2)} s): node cpu ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, postgres cpu ${(postgresCpuSeconds() - pg0).toFixed(2)} s`,
    );
  }
  results.push({
    name,
    objects,
    seconds,
    perSecond: Math.round(objects / seconds),
    peakRssMb: Math.round(phaseRss / 1048576),
    heapMb: Math.round(phaseHeap / 1048576),
  });
}

/**
 * CPU time of the running postgres processes (Linux /proc), to see who the two cores work for.
 * A backend that exits during a phase takes its time with it: such a phase can read low, even
 * negative (the delta cycle's runs each open and close connections).
 */
function postgresCpuSeconds(): number {
  let ticks = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (!stat.includes("(postgres)")) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks / 100;
}

const run = (profile: "FULL_IMPORT" | "DELTA_IMPORT" | "FULL_SYNC" | "DELTA_SYNC", connector: Connector) =>
  runEngine(services, {
    systemId: system.id,
    profile,
    connector,
  });

const generated = new GeneratedSource(size);
/** The generated people as a CSV file read by the real connector (a fresh one per run, as a worker does). */
async function csvSource(people: GeneratedSource, file: string): Promise<Connector> {
  // Written page by page: the bench's own memory stays out of the engine's RSS figures.
  const fd = openSync(file, "w");
  try {
    writeSync(fd, `${COLUMNS.join(",")}\n`);
    for await (const page of people.importFull())
      writeSync(fd, page.objects.map((o) => `${COLUMNS.map((c) => o.attributes[c]).join(",")}\n`).join(""));
  } finally {
    closeSync(fd);
  }
  return createConnector("CSV", { path: file, anchor: "id" }, { logger: services.logger, fileRoots: services.config.fileRoots });
}
const csvFile = path.join(bench.dir, "people.csv");
const source = values.source === "csv" ? await csvSource(generated, csvFile) : generated;
// The reference: a plain COPY of the same rows (anchor, attribute document) into a bare table,
// streamed page by page like the engine's input.
await phase("copy_reference", size, async () => {
  const client = await db.pool.connect();
  try {
    await client.query("CREATE TEMP TABLE copy_ref (anchor text, attrs jsonb)");
    const stream = client.query(copyFrom("COPY copy_ref (anchor, attrs) FROM STDIN"));
    const done = new Promise((resolve, reject) => stream.on("finish", resolve).on("error", reject));
    for await (const page of generated.importFull()) {
      const text = page.objects.map((o) => `${o.anchor}\t${JSON.stringify(o.attributes)}\n`).join("");
      if (!stream.write(text)) await new Promise((r) => stream.once("drain", r));
    }
    stream.end();
    await done;
  } finally {
    client.release();
  }
});
await phase("full_import", size, () => run("FULL_IMPORT", source));
await phase("unchanged_reimport", size, () => run("FULL_IMPORT", source));
await phase("full_sync", size, () => run("FULL_SYNC", source));
const changed = new Set(Array.from({ length: 1000 }, (_, i) => i * Math.floor(size / 1000)));
const variant = new GeneratedSource(size, 7, changed);
const delta = values.source === "csv" ? await csvSource(variant, csvFile) : variant;
await phase("delta_cycle", 1000, async () => {
  await run("DELTA_IMPORT", delta);
  await run("DELTA_SYNC", delta);
});
clearInterval(sampler);
const wal = await db.pool.query(
  `SELECT pg_size_pretty(w.wal_bytes) AS wal, w.wal_fpi AS full_page_images, c.num_timed + c.num_requested AS checkpoints
     FROM pg_stat_wal w, pg_stat_checkpointer c`,
);
console.table(results);
console.log("WAL written, full-page images, checkpoints:", wal.rows[0]);
console.log(
  `peak RSS ${Math.round(peakRss / 1048576)} MB; identities ${(await db.pool.query("SELECT count(*) FROM metaverse_object")).rows[0].count}`,
);
await bench.close();
