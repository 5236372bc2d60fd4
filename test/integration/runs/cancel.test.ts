import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker } from "../../../src/jobs/worker.ts";
import {
  createReadySystem,
  FAST_RUN_OPTIONS,
  itemExecutor,
  rawId,
  spawnWorkerProcess,
  startRunsApp,
  waitFor,
  waitForStatus,
} from "../../fixtures/runs.ts";
import type { TestApp } from "../../helpers/app.ts";

let app: TestApp;
const SLOW = { total: 60, batchSize: 2, delayMs: 100 };

beforeAll(async () => {
  app = await startRunsApp();
});
afterAll(() => app?.stop());

const CANCEL = `mutation ($id: ID!) { cancelRun(id: $id) { id status finishedAt } }`;

async function startImport(name: string) {
  const system = await createReadySystem(app.services, name);
  const result = await app.services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
  expect(result.outcome).toBe("ACCEPTED");
  return result.run.id;
}

const batchReached = (runId: string, batch: number) =>
  waitFor(async () => {
    const run = await app.services.db.prisma.run.findUnique({ where: { id: runId } });
    return run && run.batch >= batch ? run : null;
  });

async function itemsOf(runId: string) {
  const r = await app.services.db.pool.query("SELECT count(*)::int AS n FROM test_item WHERE run_id = $1", [runId]);
  return r.rows[0].n as number;
}

describe("cancelRun", () => {
  it("cancels a queued run at once and removes its job", async () => {
    const runId = await startImport("hr-queued");
    const r = await app.gql(CANCEL, { id: runId });
    expect(r.errors).toBeUndefined();
    expect(r.data.cancelRun.status).toBe("CANCELLED");
    expect(r.data.cancelRun.finishedAt).not.toBeNull();
    const job = await app.services.db.pool.query("SELECT state FROM pgboss.job WHERE data->>'runId' = $1", [runId]);
    expect(job.rows.map((j) => j.state)).toEqual(["cancelled"]);
    // A worker started afterwards never runs it.
    const worker = await startWorker({
      services: app.services,
      executors: { "connector.full_import": itemExecutor(SLOW) },
      scheduler: false,
    });
    await new Promise((r) => setTimeout(r, 800));
    await worker.stop();
    expect(await itemsOf(runId)).toBe(0);
    expect((await app.services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } })).status).toBe("CANCELLED");
  });

  it("stops a run in this process at the next batch boundary: CANCELLING, then CANCELLED", async () => {
    const worker = await startWorker({
      services: app.services,
      executors: { "connector.full_import": itemExecutor(SLOW) },
      scheduler: false,
    });
    try {
      const runId = await startImport("hr-running-here");
      await batchReached(runId, 2);
      const r = await app.gql(CANCEL, { id: runId });
      expect(r.data.cancelRun.status).toBe("CANCELLING");
      const run = await waitForStatus(app.services, runId, ["CANCELLED", "COMPLETED"]);
      expect(run.status).toBe("CANCELLED");
      // Every committed batch is whole, nothing after the boundary.
      expect(await itemsOf(runId)).toBe(run.batch * 2);
      expect(run.created).toBe(run.batch * 2);
      expect(run.batch).toBeLessThan(30);
    } finally {
      await worker.stop();
    }
  });

  it("ends CANCELLED when the cancel comes after the last batch, as the caller was promised", async () => {
    let answered: string | undefined;
    const worker = await startWorker({
      services: app.services,
      executors: {
        "connector.full_import": async (ctx) => {
          await ctx.batch(async () => ({
            counts: { fetched: 1, created: 1 },
            processed: 1,
            phase: "importing",
            checkpoint: null,
          }));
          answered = (await app.gql(CANCEL, { id: ctx.run.id })).data.cancelRun.status;
        },
      },
      scheduler: false,
    });
    try {
      const runId = await startImport("hr-cancel-after-last");
      const run = await waitForStatus(app.services, runId, ["CANCELLED", "COMPLETED"]);
      expect(answered).toBe("CANCELLING");
      expect(run).toMatchObject({ status: "CANCELLED", phase: "cancelled", created: 1, workerId: null });
      const done = await app.services.db.pool.query("SELECT data FROM run_event WHERE run_id = $1 AND type = 'run.completed'", [
        runId,
      ]);
      expect(done.rows.map((r) => r.data.status)).toEqual(["CANCELLED"]);
    } finally {
      await worker.stop();
    }
  });

  it("stops a run in another worker process", async () => {
    const other = await spawnWorkerProcess(app.services.db.url, SLOW);
    try {
      const runId = await startImport("hr-running-there");
      const running = await batchReached(runId, 2);
      expect(running.workerId).toContain(String(other.child.pid));
      const r = await app.gql(CANCEL, { id: runId });
      expect(r.data.cancelRun.status).toBe("CANCELLING");
      const run = await waitForStatus(app.services, runId, ["CANCELLED", "COMPLETED"]);
      expect(run.status).toBe("CANCELLED");
      expect(await itemsOf(runId)).toBe(run.batch * 2);
    } finally {
      other.child.kill("SIGTERM");
      await other.exited;
    }
  });

  it("cancels an orphaned run (worker killed) directly", async () => {
    const other = await spawnWorkerProcess(app.services.db.url, SLOW);
    const runId = await startImport("hr-orphan");
    await batchReached(runId, 2);
    other.child.kill("SIGKILL");
    await other.exited;
    // No worker is left to reach a batch boundary: once the heartbeat is stale, cancel finishes it.
    await new Promise((r) => setTimeout(r, FAST_RUN_OPTIONS.staleAfterMs + 300));
    const r = await app.gql(CANCEL, { id: runId });
    expect(r.data.cancelRun.status).toBe("CANCELLED");
    const job = await app.services.db.pool.query("SELECT state FROM pgboss.job WHERE data->>'runId' = $1", [runId]);
    expect(job.rows.map((j) => j.state)).toEqual(["cancelled"]);
  });

  it("answers CONFLICT for a finished run and NOT_FOUND for an unknown one", async () => {
    const runId = await startImport("hr-finished");
    await app.gql(CANCEL, { id: runId });
    const again = await app.gql(CANCEL, { id: runId });
    expect(again.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    expect(again.errors?.[0]?.message).toContain("CANCELLED");
    const missing = await app.gql(CANCEL, { id: "00000000-0000-4000-8000-000000000000" });
    expect(missing.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(rawId(runId)).toBe(runId);
  });
});
