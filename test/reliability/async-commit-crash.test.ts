import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../src/db/embedded-postgres.ts";
import { migrate } from "../../src/db/migrate.ts";
import type { Services } from "../../src/services.ts";
import { FAST_RUN_OPTIONS, spawnWorkerProcess, waitFor, waitForStatus } from "../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";

// Import and sync batches commit with synchronous_commit off (src/engine/durability.ts): after an
// operating-system crash PostgreSQL may have lost the last committed batches (WAL not yet
// flushed: up to 3 x wal_writer_delay), never part of one, and their checkpoint with them. Here
// the worker and this test's own PostgreSQL die at the same instant (SIGKILL, and an immediate
// stop: SIGQUIT to the postmaster, no flush), PostgreSQL restarts with crash recovery, and the
// run is resumed from the checkpoint that survived: whatever was lost is redone, nothing twice.
// A private cluster: stopping the suite's shared one would break the test files running beside.
const ROWS = 1_500;
const BATCH = 100;
const KILL_AFTER = 12;
const dir = mkdtempSync(path.join(tmpdir(), "metasync-async-commit-"));
chmodSync(dir, 0o755);
const pgDir = path.join(dir, "pg");
const workers: Awaited<ReturnType<typeof spawnWorkerProcess>>[] = [];
let cluster: EmbeddedDatabase | null = null;
let services: Services | null = null;

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
  await Promise.all(workers.map((w) => w.exited));
  if (services) await closeTestServices(services).catch(() => {});
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("synchronous_commit off and an operating-system crash", () => {
  it("redoes the committed batches PostgreSQL lost, and the import ends exact", async () => {
    cluster = await startEmbeddedPostgres(pgDir, "metasync");
    await migrate(cluster.url);
    // The longest WAL writer delay (10 s): async commits stay unflushed until a later sync commit
    // flushes them, so the crash below really can lose some (the default 200 ms rarely does).
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query("ALTER SYSTEM SET wal_writer_delay = '10s'");
    await admin.query("SELECT pg_reload_conf()");
    await admin.end();

    services = await createTestServices({}, { databaseUrl: cluster.url, runOptions: FAST_RUN_OPTIONS });
    const file = path.join(dir, "hr.csv");
    writeFileSync(file, ["id,givenName,sn", ...Array.from({ length: ROWS }, (_, i) => `E${i},G${i},S${i}`)].join("\n"));
    const system = await services.systems.create({
      name: "hr",
      kind: "CSV",
      config: { path: file, anchor: "id", pageSize: BATCH },
    });
    await services.connectionActions.refreshSchema(system.id);

    const postmaster = Number(readFileSync(path.join(pgDir, "postmaster.pid"), "utf8").split("\n")[0]);
    const env = (url: string, kill: boolean): [string, Record<string, string>] => [
      url,
      {
        WORKER_EXECUTORS: "default",
        WORKER_BATCHES: JSON.stringify({ import: BATCH }),
        WORKER_STALE_MS: "3000",
        ...(kill
          ? {
              WORKER_KILL: JSON.stringify({ operation: "connector.full_import", at: "afterBatch", n: KILL_AFTER }),
              WORKER_CRASH_PID: String(postmaster),
            }
          : {}),
      },
    ];
    const [url, killEnv] = env(cluster.url, true);
    const doomed = await spawnWorkerProcess(url, { total: 0, batchSize: 1 }, killEnv);
    workers.push(doomed);
    const started = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
    expect(started.outcome).toBe("ACCEPTED");
    const runId = started.run.id;

    // The worker dies right after its 12th batch committed, PostgreSQL with it.
    await waitFor(async () => doomed.child.signalCode === "SIGKILL" && !alive(postmaster), 60_000);
    await closeTestServices(services).catch(() => {});
    services = null;
    await cluster.stop();
    cluster = await startEmbeddedPostgres(pgDir, "metasync");
    services = await createTestServices({}, { databaseUrl: cluster.url, runOptions: FAST_RUN_OPTIONS });

    const survived = await services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
    const rows = async () =>
      (
        await services!.db.pool.query(
          "SELECT count(*)::int AS n, count(DISTINCT anchor)::int AS d FROM connector_space_object WHERE connected_system_id = $1",
          [system.id],
        )
      ).rows[0];
    // Whatever survived is whole: the checkpoint and the rows of the same batches, none half.
    expect(survived.status).toBe("RUNNING");
    expect(survived.batch).toBeLessThanOrEqual(KILL_AFTER);
    expect((await rows()).n).toBe(survived.created);
    console.log(
      `after the crash: ${survived.batch} of ${KILL_AFTER} committed batches survived (${KILL_AFTER - survived.batch} lost, ${survived.created} of ${KILL_AFTER * BATCH} rows)`,
    );

    const [newUrl, cleanEnv] = env(cluster.url, false);
    workers.push(await spawnWorkerProcess(newUrl, { total: 0, batchSize: 1 }, cleanEnv));
    const run = await waitForStatus(services, runId, ["COMPLETED", "FAILED", "PARTIAL"], 90_000);
    expect(run).toMatchObject({ status: "COMPLETED", fetched: ROWS, created: ROWS, failed: 0 });
    expect(run.attempt).toBe(2);
    expect(await rows()).toEqual({ n: ROWS, d: ROWS });
  }, 180_000);
});
