import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../src/services.ts";
import { FAST_RUN_OPTIONS, spawnWorkerProcess, waitForStatus } from "../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";

// A real CSV import executed by a worker process that is killed with SIGKILL mid-run: another
// worker resumes it from its checkpoint and the counts come out exact, nothing twice.
// 60 batches of 200 rows (pages of 200, not merged into the default batches of 5,000): the worker
// is killed after the 10th, with most of the file still to read.
const ROWS = 12_000;
const ENV = { WORKER_EXECUTORS: "default", WORKER_BATCHES: JSON.stringify({ import: 200 }) };
let services: Services;
const workers: Awaited<ReturnType<typeof spawnWorkerProcess>>[] = [];

beforeAll(async () => {
  services = await createTestServices({}, { runOptions: FAST_RUN_OPTIONS });
});
afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  await closeTestServices(services);
});

describe("a killed worker during a real import", () => {
  it("is recovered from the checkpoint with exact counts and no duplicates", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "metasync-recovery-"));
    chmodSync(dir, 0o755);
    const file = path.join(dir, "hr.csv");
    writeFileSync(file, ["id,givenName,sn", ...Array.from({ length: ROWS }, (_, i) => `E${i},G${i},S${i}`)].join("\n"));
    const system = await services.systems.create({
      name: "hr",
      kind: "CSV",
      config: { path: file, anchor: "id", pageSize: 200 },
    });
    await services.connectionActions.refreshSchema(system.id);

    workers.push(await spawnWorkerProcess(services.db.url, { total: 0, batchSize: 1 }, ENV));
    const result = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
    expect(result.outcome).toBe("ACCEPTED");
    const runId = result.run.id;
    for (let i = 0; i < 300; i++) {
      const run = await services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
      if (run.batch >= 10) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    workers[0]!.child.kill("SIGKILL");
    await workers[0]!.exited;
    const atKill = await services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
    expect(atKill.status).toBe("RUNNING");
    expect(atKill.created).toBeLessThan(ROWS);

    // It takes the run over once the heartbeat is 3 s old (12 missed heartbeats of 250 ms).
    workers.push(await spawnWorkerProcess(services.db.url, { total: 0, batchSize: 1 }, { ...ENV, WORKER_STALE_MS: "3000" }));
    const run = await waitForStatus(services, runId, ["COMPLETED", "FAILED", "PARTIAL"], 60_000);
    expect(run).toMatchObject({ status: "COMPLETED", fetched: ROWS, created: ROWS, failed: 0, deleted: 0 });
    expect(run.attempt).toBeGreaterThan(1);
    const stored = await services.db.pool.query(
      "SELECT count(*)::int AS n, count(DISTINCT anchor)::int AS d FROM connector_space_object WHERE connected_system_id = $1",
      [system.id],
    );
    expect(stored.rows[0]).toEqual({ n: ROWS, d: ROWS });
  });
});
