// Scale-out: one FULL_SYNC of N people (from scratch: every identity projected and an account
// planned for it on a SQL target) run by 1, 2 and 4 `metasync worker` processes of one slot each,
// split in partitions of METASYNC_PARTITION_SIZE, against the same embedded PostgreSQL; and, as
// the baseline, the same sync in one piece. Between configurations the metaverse is emptied and
// the connector space unjoined, so each one does the same work.
// Usage: npm run bench:partitions -- [--size 100000] [--workers 1,2,4] [--partition 10000,25000]
//   [--also 4x2500,4x25000] (more worker x partition size pairs to time)
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { openBenchServices } from "./harness.ts";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "100000" },
    workers: { type: "string", default: "1,2,4" },
    partition: { type: "string", default: "10000" },
    also: { type: "string", default: "" },
  },
});
const size = Number(values.size);
const workerCounts = values.workers.split(",").map(Number);
const partitionSizes = values.partition.split(",").map(Number);

const secretKey = randomBytes(32).toString("hex");
const bench = await openBenchServices({ secretKey });
const { services } = bench;
const { pool } = services.db;
const BIN = path.resolve(import.meta.dirname, "../bin/metasync.mjs");

// The HR file and the SQL target (a second database in the same cluster).
const file = path.join(bench.dir, "hr.csv");
const lines = ["id,employeeId,mail,givenName,sn,department"];
for (let i = 0; i < size; i++) lines.push(`H${i},E${i},p${i}@example.org,Given${i % 89},Surname${i},D${i % 50}`);
writeFileSync(file, lines.join("\n"));
await pool.query("CREATE DATABASE target");
const targetUrl = services.db.url.replace(/\/[^/]+$/, "/target");
const target = new pg.Client({ connectionString: targetUrl });
await target.connect();
await target.query("CREATE TABLE accounts (id text PRIMARY KEY, display_name text, department text)");
await target.end();

const system = async (input: Parameters<typeof services.systems.create>[0]) => {
  const created = await services.systems.create(input);
  await services.connectionActions.refreshSchema(created.id);
  return created.id;
};
const hr = await system({ name: "hr", kind: "CSV", config: { path: file, anchor: "id", objectType: "person", pageSize: 5000 } });
const sql = await system({
  name: "sql",
  kind: "SQL",
  config: { connectionString: targetUrl, table: "accounts", anchor: "id", objectType: "account" },
});
const rule = (input: Record<string, unknown>) => services.syncRules.create(input as never);
await rule({
  name: "hr-people",
  connectedSystemId: hr,
  direction: "INBOUND",
  objectType: "person",
  metaverseObjectType: "person",
  projectToMetaverse: true,
  precedence: 10,
  joinRules: [{ source: "mail", metaverseAttribute: "mail" }],
  attributeFlows: ["employeeId", "mail", "givenName", "sn", "department"].map((a) => ({ target: a, source: a })),
});
await rule({
  name: "sql-accounts",
  connectedSystemId: sql,
  direction: "OUTBOUND",
  objectType: "account",
  metaverseObjectType: "person",
  provisionToConnector: true,
  attributeFlows: [
    { target: "id", source: "employeeId" },
    { target: "display_name", expression: "givenName & ' ' & sn" },
    { target: "department", source: "department" },
  ],
});

/** `count` real worker processes of one run slot each; resolves once all are started. */
async function startWorkers(count: number, partitionSize: number): Promise<ChildProcess[]> {
  const env = {
    ...process.env,
    DATABASE_URL: services.db.url,
    METASYNC_SECRET_KEY: secretKey,
    METASYNC_FILE_ROOTS: bench.dir,
    DATA_DIR: bench.dir,
    LOG_LEVEL: "info",
    METASYNC_PARTITION_SIZE: String(partitionSize),
    METASYNC_WORKER_CONCURRENCY: "1",
  };
  return Promise.all(
    Array.from({ length: count }, () => {
      const child = spawn(process.execPath, ["--max-old-space-size=1536", BIN, "worker"], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      return new Promise<ChildProcess>((resolve, reject) => {
        let out = "";
        const onData = (d: Buffer) => {
          out += d.toString();
          if (out.includes("worker started")) resolve(child);
        };
        child.stdout?.on("data", onData);
        child.stderr?.on("data", onData);
        child.once("exit", (code) => reject(new Error(`worker exited ${code}: ${out.slice(-2000)}`)));
      });
    }),
  );
}

async function stopWorkers(workers: ChildProcess[]) {
  await Promise.all(
    workers.map((w) => {
      const exited = new Promise((resolve) => w.once("exit", resolve));
      w.kill("SIGTERM");
      return exited;
    }),
  );
}

async function runToEnd(profile: "FULL_IMPORT" | "FULL_SYNC") {
  const started = await services.startGate.start({ connectedSystemId: hr, profile, trigger: "API" });
  if (started.outcome !== "ACCEPTED") throw new Error(`${profile}: ${started.outcome}`);
  for (;;) {
    const run = await services.db.prisma.run.findUniqueOrThrow({ where: { id: started.run.id } });
    if (["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"].includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Back to "imported, never synced": no identity, no planned export, nothing joined. */
async function resetMetaverse() {
  await pool.query("DELETE FROM pending_export");
  await pool.query("DELETE FROM connector_space_object WHERE connected_system_id = $1", [sql]);
  await pool.query(
    "UPDATE connector_space_object SET metaverse_object_id = NULL, join_type = NULL WHERE connected_system_id = $1",
    [hr],
  );
  await pool.query("DELETE FROM run_change");
  await pool.query("DELETE FROM metaverse_key");
  await pool.query("DELETE FROM metaverse_object");
  await pool.query("VACUUM ANALYZE");
}

const importers = await startWorkers(1, 0);
const imported = await runToEnd("FULL_IMPORT");
await stopWorkers(importers);
if (imported.status !== "COMPLETED") throw new Error(`import ${imported.status}`);

const results: Record<string, unknown>[] = [];
const configurations = [
  { workers: 1, partitionSize: 0 },
  ...partitionSizes.flatMap((partitionSize) => workerCounts.map((workers) => ({ workers, partitionSize }))),
  ...values.also
    .split(",")
    .filter(Boolean)
    .map((pair) => {
      const [workers, partitionSize] = pair.split("x").map(Number);
      return { workers: workers!, partitionSize: partitionSize! };
    }),
];
for (const config of configurations) {
  await resetMetaverse();
  const workers = await startWorkers(config.workers, config.partitionSize);
  const load = loadavg()[0]!;
  const run = await runToEnd("FULL_SYNC");
  await stopWorkers(workers);
  const seconds = (run.finishedAt!.getTime() - run.startedAt!.getTime()) / 1000;
  const { rows } = await pool.query<{ n: number; workers: number }>(
    "SELECT count(*)::int AS n, count(DISTINCT worker_id)::int AS workers FROM run_partition WHERE run_id = $1",
    [run.id],
  );
  const result = {
    workers: config.workers,
    partitionSize: config.partitionSize || "off",
    partitions: rows[0]!.n,
    workersUsed: rows[0]!.workers || 1,
    status: run.status,
    created: run.created,
    exportsQueued: run.exportsQueued,
    seconds: Math.round(seconds * 10) / 10,
    objectsPerSecond: Math.round(size / seconds),
    load1mBefore: Math.round(load * 10) / 10,
    load1mAfter: Math.round(loadavg()[0]! * 10) / 10,
  };
  results.push(result);
  console.log(JSON.stringify(result));
}
console.table(results);
await bench.close();
process.exit(0);
