import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OperationExecutor } from "../../../src/engine/run-context.ts";
import { startWorker } from "../../../src/jobs/worker.ts";
import type { Services } from "../../../src/services.ts";
import {
  createReadySystem,
  ensureItemTable,
  executorsBySystem,
  FAST_RUN_OPTIONS,
  okFactory,
  spawnWorkerProcess,
  waitForStatus,
} from "../../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
beforeAll(async () => {
  // One run at a time: the order in which the worker takes the queued runs is the order they run.
  services = await createTestServices({}, { connectorFactory: okFactory, runOptions: { ...FAST_RUN_OPTIONS, concurrency: 1 } });
  await ensureItemTable(services.db.pool);
});
afterAll(() => closeTestServices(services));

describe("queue priorities", () => {
  it("runs a start a person asked for before the scheduled ones queued earlier, then the scheduled ones in their order", async () => {
    const names = ["nightly-a", "nightly-b", "urgent"];
    const systems = await Promise.all(names.map((n) => createReadySystem(services, n)));
    const order: string[] = [];
    const record: OperationExecutor = async (ctx) => {
      order.push(ctx.system.name);
    };
    const start = (i: number, trigger: "SCHEDULE" | "API" | "MANUAL") =>
      services.startGate.start({ connectedSystemId: systems[i]!.id, profile: "FULL_IMPORT", trigger });
    // Queued while no worker runs: two by the clock first, then one by a person.
    const queued = [await start(0, "SCHEDULE"), await start(1, "SCHEDULE"), await start(2, "API")];
    expect(queued.map((q) => q.outcome)).toEqual(["ACCEPTED", "ACCEPTED", "ACCEPTED"]);

    const worker = await startWorker({
      services,
      executors: executorsBySystem(Object.fromEntries(names.map((n) => [n, record]))),
      scheduler: false,
    });
    try {
      for (const q of queued) await waitForStatus(services, q.run!.id, ["COMPLETED"]);
    } finally {
      await worker.stop();
    }
    expect(order).toEqual(["urgent", "nightly-a", "nightly-b"]);
  });

  it("with several worker processes, every run a person asked for starts before any scheduled one queued earlier", async () => {
    const names = ["sched-a", "sched-b", "sched-c", "person-d", "person-e"];
    const systems = await Promise.all(names.map((n) => createReadySystem(services, n)));
    const queued = [];
    for (const [i, s] of systems.entries())
      queued.push(
        await services.startGate.start({ connectedSystemId: s.id, profile: "FULL_IMPORT", trigger: i < 3 ? "SCHEDULE" : "API" }),
      );
    // Two worker processes of one slot each, started together and holding every run for 4 s: the
    // second must be up before the first finishes its first run, or that worker would take the
    // second person's run and the late one a scheduled run in the same instant (a process start
    // under a loaded CI took longer than the 2.4 s runs this test once held).
    const items = { total: 4, batchSize: 1, delayMs: 1000 };
    const spawned = [0, 1].map(() => spawnWorkerProcess(services.db.url, items, { WORKER_CONCURRENCY: "1" }));
    const workers = (await Promise.allSettled(spawned)).flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    try {
      expect(workers).toHaveLength(2);
      const runs = await Promise.all(queued.map((q) => waitForStatus(services, q.run!.id, ["COMPLETED"], 60_000)));
      const startEvents = await services.db.prisma.runEvent.findMany({
        where: { runId: { in: runs.map((r) => r.id) }, type: "run.started" },
      });
      const workerOf = new Map(startEvents.map((e) => [e.runId, (e.data as { workerId: string }).workerId]));
      const started = runs.map((r, i) => ({ name: names[i]!, at: r.startedAt!.getTime(), worker: workerOf.get(r.id) }));
      const lastPerson = Math.max(...started.filter((s) => s.name.startsWith("person")).map((s) => s.at));
      const firstScheduled = Math.min(...started.filter((s) => s.name.startsWith("sched")).map((s) => s.at));
      expect(lastPerson).toBeLessThanOrEqual(firstScheduled);
      // Both processes took part (the one-worker test above checks first queued, first run).
      expect(new Set(started.map((s) => s.worker)).size).toBe(2);
    } finally {
      for (const w of workers) w.child.kill("SIGTERM");
      await Promise.all(workers.map((w) => w.exited));
    }
  });
});
