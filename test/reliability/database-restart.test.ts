import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { stopPostmaster } from "../../src/db/embedded-owner.ts";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../src/db/embedded-postgres.ts";
import { migrate } from "../../src/db/migrate.ts";
import type { Services } from "../../src/services.ts";
import { FAST_RUN_OPTIONS, spawnWorkerProcess, waitFor, waitForStatus } from "../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";

// The embedded PostgreSQL stopped (fast shutdown: SIGINT to the postmaster, what `pg_ctl stop
// -m fast` sends) under a worker process in the middle of a full import, then started again on
// the same port and data directory. The worker must survive it: its run either goes on (a
// transient failure retried from the checkpoint) or fails cleanly, and then the next run
// completes it; connector space ends exact. A private cluster: stopping the suite's shared one
// would break the test files running beside. RELIABILITY_SIZE=full imports more rows.
const FULL = process.env.RELIABILITY_SIZE === "full";
const ROWS = FULL ? 20_000 : 3_000;
const BATCH = 100;
const dir = mkdtempSync(path.join(tmpdir(), "metasync-pg-restart-"));
chmodSync(dir, 0o755);
const pgDir = path.join(dir, "pg");
let cluster: EmbeddedDatabase | null = null;
let relaunched: number | null = null;
let services: Services | null = null;
let worker: Awaited<ReturnType<typeof spawnWorkerProcess>> | null = null;

afterAll(async () => {
  if (worker && worker.child.exitCode === null) worker.child.kill("SIGKILL");
  await worker?.exited;
  if (services) await closeTestServices(services).catch(() => {});
  if (relaunched) await stopPostmaster(relaunched);
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Fast shutdown, then the same postmaster command line again (same port, same data directory). */
async function bounce(downMs: number) {
  const pid = Number(readFileSync(path.join(pgDir, "postmaster.pid"), "utf8").split("\n")[0]);
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  // As root the cluster runs as its directory's owner ("postgres").
  const owner = execFileSync("stat", ["-c", "%u %g", pgDir], { encoding: "utf8" }).trim().split(" ").map(Number);
  await stopPostmaster(pid);
  await new Promise((r) => setTimeout(r, downMs));
  const child = spawn(argv[0]!, argv.slice(1), { uid: owner[0], gid: owner[1], detached: true, stdio: "ignore" });
  child.unref();
  relaunched = child.pid ?? null;
}

async function accepting(url: string) {
  await waitFor(async () => {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }, 30_000);
}

describe("PostgreSQL restarted under a running worker", () => {
  it("the worker survives; the run goes on or fails cleanly and the next one completes it; nothing lost or twice", async () => {
    cluster = await startEmbeddedPostgres(pgDir, "metasync");
    await migrate(cluster.url);
    services = await createTestServices({}, { databaseUrl: cluster.url, runOptions: FAST_RUN_OPTIONS });
    const file = path.join(dir, "hr.csv");
    writeFileSync(file, ["id,givenName,sn", ...Array.from({ length: ROWS }, (_, i) => `E${i},G${i},S${i}`)].join("\n"));
    const system = await services.systems.create({
      name: "hr",
      kind: "CSV",
      config: { path: file, anchor: "id", pageSize: BATCH },
    });
    await services.connectionActions.refreshSchema(system.id);
    worker = await spawnWorkerProcess(
      cluster.url,
      { total: 0, batchSize: 1 },
      { WORKER_EXECUTORS: "default", WORKER_BATCHES: JSON.stringify({ import: BATCH }), WORKER_STALE_MS: "3000" },
    );

    const started = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
    if (started.outcome !== "ACCEPTED") throw new Error(started.outcome);
    const runId = started.run.id;
    await waitFor(async () => (await services!.db.prisma.run.findUniqueOrThrow({ where: { id: runId } })).batch >= 3, 60_000);

    await bounce(1500);
    await accepting(cluster.url);
    expect(worker.child.exitCode, worker.output()).toBeNull();

    const ended = await waitForStatus(services, runId, ["COMPLETED", "FAILED", "PARTIAL"], 120_000);
    let final = ended;
    if (ended.status === "FAILED") {
      // Failed cleanly: a stable code, and the next run completes the import.
      expect(ended.reasonCode).toMatch(/^[A-Z_]+$/);
      const again = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
      if (again.outcome !== "ACCEPTED") throw new Error(again.outcome);
      final = await waitForStatus(services, again.run.id, ["COMPLETED", "FAILED", "PARTIAL"], 120_000);
    }
    expect(final).toMatchObject({ status: "COMPLETED", failed: 0 });
    const { rows } = await services.db.pool.query(
      "SELECT count(*)::int AS n, count(DISTINCT anchor)::int AS d FROM connector_space_object WHERE connected_system_id = $1",
      [system.id],
    );
    expect(rows[0]).toEqual({ n: ROWS, d: ROWS });
    // The same worker process takes the next run: it neither died nor hung.
    const next = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
    if (next.outcome !== "ACCEPTED") throw new Error(next.outcome);
    expect(await waitForStatus(services, next.run.id, ["COMPLETED", "FAILED", "PARTIAL"], 60_000)).toMatchObject({
      status: "COMPLETED",
      unchanged: ROWS,
    });
    expect(worker.child.exitCode).toBeNull();
    console.log(`run after the restart: ${ended.status} (attempt ${ended.attempt}, reason ${ended.reasonCode ?? "-"})`);
  }, 300_000);
});
