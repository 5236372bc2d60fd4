import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import type { Services } from "../../../src/services.ts";
import {
  createReadySystem,
  ensureItemTable,
  eventTypes,
  executorsBySystem,
  FAST_RUN_OPTIONS,
  itemExecutor,
  okFactory,
  waitForStatus,
} from "../../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
let worker: WorkerHandle | null = null;
const behaviours = {
  "hr-complete": itemExecutor({ total: 23, batchSize: 5 }),
  "hr-partial": itemExecutor({ total: 20, batchSize: 10, failEvery: 4 }),
  "hr-flaky": itemExecutor({ total: 10, batchSize: 5, transientFailures: 2 }),
  "hr-down": itemExecutor({ total: 10, batchSize: 5, transientFailures: 99 }),
  "hr-broken": itemExecutor({ total: 10, batchSize: 5, permanentError: true }),
  "hr-pinned": itemExecutor({ total: 4, batchSize: 2 }),
  "hr-garbled": itemExecutor({ total: 4, batchSize: 2 }),
};

beforeAll(async () => {
  services = await createTestServices({}, { connectorFactory: okFactory, runOptions: FAST_RUN_OPTIONS });
  await ensureItemTable(services.db.pool);
});
afterAll(async () => {
  await worker?.stop();
  await closeTestServices(services);
});

const ensureWorker = async () => {
  worker ??= await startWorker({ services, executors: executorsBySystem(behaviours), scheduler: false });
};

async function startImport(name: string, options: { path?: string } = {}) {
  const system = await createReadySystem(services, name, options);
  const result = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "MANUAL" });
  expect(result.outcome).toBe("ACCEPTED");
  return { system, runId: result.run.id };
}

describe("worker", () => {
  it("pins the accepted connection even when settings change before the run executes", async () => {
    // No worker yet: the run waits in the queue while its system's settings change.
    const { system, runId } = await startImport("hr-pinned", { path: "/data/v1.csv" });
    await services.systems.update(system.id, { name: "hr-pinned", kind: "CSV", config: { path: "/data/v2.csv", anchor: "id" } });
    await ensureWorker();
    await waitForStatus(services, runId, ["COMPLETED"]);
    const sources = await services.db.pool.query("SELECT DISTINCT source FROM test_item WHERE run_id = $1", [runId]);
    expect(sources.rows).toEqual([{ source: "/data/v1.csv" }]);
  });

  it("runs QUEUED -> RUNNING -> COMPLETED with exact counts, progress and seed-003 events", async () => {
    await ensureWorker();
    const t0 = performance.now();
    const { runId } = await startImport("hr-complete");
    const run = await waitForStatus(services, runId, ["COMPLETED", "FAILED", "PARTIAL"]);
    console.log(`accepted -> COMPLETED (5 batches): ${Math.round(performance.now() - t0)} ms`);
    expect(run).toMatchObject({ status: "COMPLETED", fetched: 23, created: 23, failed: 0, processed: 23, total: 23, batch: 5 });
    expect(run.startedAt).not.toBeNull();
    expect(run.finishedAt).not.toBeNull();
    expect(run.checkpoint).toEqual({ next: 23 });
    const items = await services.db.pool.query("SELECT count(*)::int AS n FROM test_item WHERE run_id = $1", [runId]);
    expect(items.rows[0].n).toBe(23);
    const types = await eventTypes(services, runId);
    expect(types[0]).toBe("run.triggered");
    expect(types[1]).toBe("run.started");
    expect(types.filter((t) => t === "run.batch_processed")).toHaveLength(5);
    expect(types.filter((t) => t === "run.records_fetched")).toHaveLength(5);
    expect(types.at(-1)).toBe("run.completed");
    const completed = await services.db.prisma.runEvent.findFirst({ where: { runId, type: "run.completed" } });
    expect(completed?.data).toMatchObject({ status: "COMPLETED", counts: { fetched: 23, created: 23 } });
    const jobState = async () =>
      (await services.db.pool.query("SELECT state FROM pgboss.job WHERE data->>'runId' = $1", [runId])).rows[0]?.state;
    await expect.poll(jobState).toBe("completed");
  });

  it("ends PARTIAL when some records failed", async () => {
    await ensureWorker();
    const { runId } = await startImport("hr-partial");
    const run = await waitForStatus(services, runId, ["COMPLETED", "FAILED", "PARTIAL"]);
    expect(run).toMatchObject({ status: "PARTIAL", fetched: 20, created: 15, failed: 5, reasonCode: "RECORDS_FAILED" });
  });

  it("retries transient failures with backoff, recording each attempt, then completes", async () => {
    await ensureWorker();
    const { runId } = await startImport("hr-flaky");
    const run = await waitForStatus(services, runId, ["COMPLETED", "FAILED", "PARTIAL"]);
    expect(run).toMatchObject({ status: "COMPLETED", fetched: 10, created: 10 });
    const retries = await services.db.prisma.runEvent.findMany({
      where: { runId, type: "run.retry_attempt" },
      orderBy: { id: "asc" },
    });
    expect(retries.map((r) => (r.data as { attempt: number }).attempt)).toEqual([1, 2]);
    const delays = retries.map((r) => (r.data as { delayMs: number }).delayMs);
    expect(delays[0]).toBeGreaterThanOrEqual(40);
    expect(delays[0]).toBeLessThanOrEqual(60);
    expect(delays[1]).toBeGreaterThanOrEqual(80);
    expect(delays[1]).toBeLessThanOrEqual(120);
  });

  it("fails after the maximum of 3 retries of a transient failure", async () => {
    await ensureWorker();
    const { runId } = await startImport("hr-down");
    const run = await waitForStatus(services, runId, ["COMPLETED", "FAILED", "PARTIAL"]);
    expect(run).toMatchObject({ status: "FAILED", reasonCode: "CONNECTION_FAILED", error: "connection reset by peer" });
    expect(run.reason).toContain("after 3 retries");
    expect(await services.db.prisma.runEvent.count({ where: { runId, type: "run.retry_attempt" } })).toBe(3);
  });

  it("never retries a permanent failure", async () => {
    await ensureWorker();
    const { runId } = await startImport("hr-broken");
    const run = await waitForStatus(services, runId, ["COMPLETED", "FAILED", "PARTIAL"]);
    expect(run).toMatchObject({ status: "FAILED", reasonCode: "SCHEMA_VIOLATION", fetched: 0 });
    expect(await services.db.prisma.runEvent.count({ where: { runId, type: "run.retry_attempt" } })).toBe(0);
  });

  it("fails an operation without an executor with OPERATION_UNAVAILABLE", async () => {
    await ensureWorker();
    const system = await createReadySystem(services, "ldap-export");
    const result = await services.startGate.start({ connectedSystemId: system.id, profile: "EXPORT", trigger: "API" });
    expect(result.outcome).toBe("ACCEPTED");
    const run = await waitForStatus(services, result.run.id, ["FAILED", "COMPLETED"]);
    expect(run).toMatchObject({ status: "FAILED", reasonCode: "OPERATION_UNAVAILABLE" });
    expect(run.nextSteps.length).toBe(1);
  });

  it("fails a run whose pinned settings cannot be read with INTERNAL_ERROR instead of leaving it running", async () => {
    await ensureWorker();
    const system = await createReadySystem(services, "hr-garbled");
    // Sync preflight does not read secrets; the worker does, and this sealed value is corrupt.
    await services.db.pool.query("UPDATE connection_settings SET secrets = 'v1.x.y.z' WHERE connected_system_id = $1", [
      system.id,
    ]);
    const result = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_SYNC", trigger: "API" });
    expect(result.outcome).toBe("ACCEPTED");
    const run = await waitForStatus(services, result.run.id, ["FAILED", "COMPLETED"]);
    expect(run).toMatchObject({ status: "FAILED", reasonCode: "INTERNAL_ERROR" });
  });
});
