import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker } from "../../../src/jobs/worker.ts";
import type { Services } from "../../../src/services.ts";
import {
  createReadySystem,
  ensureItemTable,
  FAST_RUN_OPTIONS,
  itemExecutor,
  okFactory,
  spawnWorkerProcess,
  waitFor,
  waitForStatus,
} from "../../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
const ITEMS = { total: 40, batchSize: 4, delayMs: 150 };

beforeAll(async () => {
  services = await createTestServices({}, { connectorFactory: okFactory, runOptions: FAST_RUN_OPTIONS });
  await ensureItemTable(services.db.pool);
});
afterAll(() => closeTestServices(services));

describe("recovery of a killed worker", () => {
  it("resumes a run whose worker process was SIGKILLed mid-run, from its checkpoint, with exact counts", async () => {
    const system = await createReadySystem(services, "hr-killed");
    const first = await spawnWorkerProcess(services.db.url, ITEMS);
    const result = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "MANUAL" });
    const runId = result.run.id;
    // Mid-run: some batches committed, more to come.
    await waitFor(async () => {
      const run = await services.db.prisma.run.findUnique({ where: { id: runId } });
      return run && run.batch >= 3 ? run : null;
    });
    first.child.kill("SIGKILL");
    const killedAt = performance.now();
    await first.exited;
    const atKill = await services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
    expect(atKill.status).toBe("RUNNING");
    expect(atKill.batch).toBeLessThan(10);

    // Another worker (in this process) notices the stale heartbeat and resumes the run.
    const second = await startWorker({ services, executors: { "connector.full_import": itemExecutor(ITEMS) }, scheduler: false });
    try {
      const run = await waitForStatus(services, runId, ["COMPLETED", "FAILED", "PARTIAL"], 30_000);
      console.log(
        `SIGKILL -> COMPLETED on another worker: ${Math.round(performance.now() - killedAt)} ms (stale after ${FAST_RUN_OPTIONS.staleAfterMs} ms)`,
      );
      expect(run).toMatchObject({ status: "COMPLETED", fetched: 40, created: 40, processed: 40, batch: 10, attempt: 2 });
      // Nothing duplicated (primary key), nothing lost (every item once).
      const items = await services.db.pool.query<{ n: number; distinct_n: number; min: number; max: number }>(
        "SELECT count(*)::int AS n, count(DISTINCT n)::int AS distinct_n, min(n), max(n) FROM test_item WHERE run_id = $1",
        [runId],
      );
      expect(items.rows[0]).toEqual({ n: 40, distinct_n: 40, min: 0, max: 39 });
      // The second attempt wrote exactly what the first had not committed.
      const byAttempt = await services.db.pool.query(
        "SELECT attempt, count(*)::int AS n FROM test_item WHERE run_id = $1 GROUP BY attempt ORDER BY attempt",
        [runId],
      );
      expect(byAttempt.rows).toEqual([
        { attempt: 1, n: atKill.batch * 4 },
        { attempt: 2, n: 40 - atKill.batch * 4 },
      ]);
      const recovered = await services.db.prisma.runEvent.count({ where: { runId, type: "run.recovered" } });
      expect(recovered).toBe(1);
    } finally {
      await second.stop();
    }
  });

  it("fails a run with WORKER_LOST once it ran out of recoveries", async () => {
    const system = await createReadySystem(services, "hr-cursed");
    const result = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "MANUAL" });
    // As if its workers had died max_attempts times: claimed (job consumed), never heartbeating again.
    await services.db.pool.query("UPDATE pgboss.job SET state = 'active' WHERE data->>'runId' = $1", [result.run.id]);
    await services.db.pool.query(
      `UPDATE run SET status = 'RUNNING', attempt = max_attempts, worker_id = 'gone', heartbeat_at = now() - interval '1 hour'
        WHERE id = $1`,
      [result.run.id],
    );
    const worker = await startWorker({ services, executors: {}, scheduler: false });
    try {
      const run = await waitForStatus(services, result.run.id, ["FAILED"]);
      expect(run.reasonCode).toBe("WORKER_LOST");
    } finally {
      await worker.stop();
    }
  });

  it("hands a run back to the queue on a graceful worker stop; another worker finishes it exactly", async () => {
    const system = await createReadySystem(services, "hr-handover");
    const items = { total: 30, batchSize: 3, delayMs: 100 };
    const first = await startWorker({ services, executors: { "connector.full_import": itemExecutor(items) }, scheduler: false });
    const result = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "MANUAL" });
    await waitFor(async () => {
      const run = await services.db.prisma.run.findUnique({ where: { id: result.run.id } });
      return run && run.batch >= 2 ? run : null;
    });
    const t0 = performance.now();
    await first.stop();
    const handedBack = await services.db.prisma.run.findUniqueOrThrow({ where: { id: result.run.id } });
    expect(handedBack).toMatchObject({ status: "RUNNING", workerId: null });
    const second = await startWorker({ services, executors: { "connector.full_import": itemExecutor(items) }, scheduler: false });
    try {
      const run = await waitForStatus(services, result.run.id, ["COMPLETED", "FAILED"]);
      console.log(`graceful handover -> COMPLETED: ${Math.round(performance.now() - t0)} ms (no stale wait)`);
      expect(run).toMatchObject({ status: "COMPLETED", created: 30, batch: 10, attempt: 2 });
      const items2 = await services.db.pool.query("SELECT count(*)::int AS n FROM test_item WHERE run_id = $1", [result.run.id]);
      expect(items2.rows[0].n).toBe(30);
    } finally {
      await second.stop();
    }
  });
});
