import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cancelRun } from "../../../src/jobs/cancel.ts";
import { pauseRun } from "../../../src/jobs/pause.ts";
import { createPartitionedWorld, hrRows, type PartitionedWorld } from "../../fixtures/partitioned-world.ts";
import { waitFor, waitForStatus } from "../../fixtures/runs.ts";
import { startTestApp } from "../../helpers/app.ts";

// A FULL_SYNC larger than the partition size, split into partitions that two real worker
// processes claim: the same end state as the same sync in one piece, cancel reaching every
// partition, and a worker SIGKILLed mid-partition replaced by the other.
const PEOPLE = 300;
const SIZE = 50;
const SYNC_BATCH = 10;
const ENDED = ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"];

const partitionsOf = (world: PartitionedWorld, runId: string) =>
  world.services.db.prisma.runPartition.findMany({ where: { runId }, orderBy: { index: "asc" } });

const countsOf = (run: Awaited<ReturnType<PartitionedWorld["run"]>>) => ({
  status: run.status,
  fetched: run.fetched,
  created: run.created,
  updated: run.updated,
  deleted: run.deleted,
  unchanged: run.unchanged,
  failed: run.failed,
  exportsQueued: run.exportsQueued,
});

/** HR rows (a few people twice under another anchor). */
const OBJECTS = hrRows(PEOPLE).length - 1;

/**
 * Exports queued can be more: a partition may plan a report before the manager's partition
 * committed, and the final step plans it again with the reference (the open export is revised:
 * the pending exports compared in the snapshot are the same).
 */
async function expectSameCounts(run: Awaited<ReturnType<PartitionedWorld["run"]>>) {
  const { exportsQueued, ...counts } = countsOf(run);
  const { exportsQueued: expected, ...want } = (await referenceRun).sync;
  expect(counts).toEqual(want);
  expect(exportsQueued).toBeGreaterThanOrEqual(expected);
}

let reference: PartitionedWorld | undefined;
let referenceRun: Promise<{ sync: ReturnType<typeof countsOf>; state: Awaited<ReturnType<PartitionedWorld["snapshot"]>> }>;

beforeAll(() => {
  // The same data synced in one piece (partitions off) by one worker: made while the first tests
  // run (its worker, like theirs, spends seconds starting), awaited where it is compared.
  referenceRun = (async () => {
    reference = await createPartitionedWorld(PEOPLE, { partitionSize: 0, syncBatch: SYNC_BATCH });
    await reference.spawnWorker();
    expect((await reference.run("FULL_IMPORT")).status).toBe("COMPLETED");
    const sync = await reference.run("FULL_SYNC");
    expect(await partitionsOf(reference, sync.id)).toEqual([]);
    return { sync: countsOf(sync), state: await reference.snapshot() };
  })();
  referenceRun.catch(() => {});
});
afterAll(async () => {
  await referenceRun?.catch(() => {});
  await reference?.close();
});

async function partitionedWorld() {
  const world = await createPartitionedWorld(PEOPLE, { partitionSize: SIZE, syncBatch: SYNC_BATCH });
  // pg-boss installs its schema on first start: here, as the first run would, so that the two
  // workers (each seconds loading its modules) can start side by side on this fresh database.
  try {
    await world.services.queue.start();
    // A killed worker's partition is taken over soon (12 missed heartbeats of 250 ms).
    // Both settled before a failure is thrown: a worker still starting would escape close().
    const started = await Promise.allSettled([0, 1].map(() => world.spawnWorker({ WORKER_STALE_MS: "3000" })));
    for (const s of started) if (s.status === "rejected") throw s.reason;
    expect((await world.run("FULL_IMPORT")).status).toBe("COMPLETED");
    return world;
  } catch (e) {
    // A worker that did start must not outlive the test.
    await world.close();
    throw e;
  }
}

describe("a FULL_SYNC split into partitions", () => {
  it("is processed by both workers and ends like the unpartitioned sync", async () => {
    const world = await partitionedWorld();
    try {
      const sync = await world.run("FULL_SYNC");
      const partitions = await partitionsOf(world, sync.id);
      // 300 people, some listed twice: partitions of 50, the last one the rest.
      expect(partitions.map((p) => p.size)).toEqual([50, 50, 50, 50, 50, 50, OBJECTS - 300]);
      expect(partitions.map((p) => [p.status, p.processed, p.error])).toEqual(partitions.map((p) => ["COMPLETED", p.size, null]));
      expect(new Set(partitions.map((p) => p.workerId))).toEqual(new Set(world.workers.map((w) => w.workerId)));
      // The run's counts are the partitions' sums (plus the once-per-run final step's late references).
      const sum = (key: string) => partitions.reduce((n, p) => n + ((p.counts as Record<string, number>)[key] ?? 0), 0);
      expect(sync.fetched).toBe(sum("fetched"));
      expect(sync.created).toBe(sum("created"));
      expect(sync.failed).toBeGreaterThanOrEqual(sum("failed"));
      expect(sync.processed).toBe(sync.total);
      // What the API shows of it.
      const app = await startTestApp(world.services);
      try {
        const { data, errors } = await app.gql(
          `query ($id: ID!) { run(id: $id) { progress { processed total } counts { fetched } partitions { index workerId status processed } } }`,
          { id: sync.id },
        );
        expect(errors).toBeUndefined();
        expect(data.run.partitions).toEqual(
          partitions.map((p) => ({ index: p.index, workerId: p.workerId, status: "COMPLETED", processed: p.size })),
        );
        expect(data.run.progress).toEqual({ processed: OBJECTS, total: OBJECTS });
        expect(data.run.counts.fetched).toBe(sum("fetched"));
      } finally {
        await app.stop();
      }
      await expectSameCounts(sync);
      const { sync: referenceSync, state: referenceState } = await referenceRun;
      expect(referenceSync.failed).toBe(OBJECTS - PEOPLE);
      expect(await world.snapshot()).toEqual(referenceState);
      // Per person one identity and one planned account, with its manager resolved after the last partition.
      expect(referenceState.metaverse).toHaveLength(PEOPLE);
      expect(referenceState.pendingExports.filter((e) => e.includes('"manager"'))).toHaveLength(PEOPLE - 10);
    } finally {
      await world.close();
    }
  }, 180_000);

  it("is judged by the breaker on the whole run: a create limit no partition crosses alone holds every planned account", async () => {
    const world = await partitionedWorld();
    try {
      const prisma = world.services.db.prisma;
      const sql = await prisma.connectedSystem.findUniqueOrThrow({ where: { name: "sql" } });
      // 300 creates in partitions of 50, several of them synced side by side.
      await prisma.connectedSystem.update({ where: { id: sql.id }, data: { breaker: { maxCreates: 290 } } });
      const sync = await world.run("FULL_SYNC");
      // PARTIAL as in one piece: the people listed twice are recorded duplicates.
      expect(sync.status).toBe((await referenceRun).sync.status);
      const creates = await prisma.pendingExport.groupBy({
        by: ["status"],
        where: { planningRunId: sync.id, connectedSystemId: sql.id, changeType: "CREATE" },
        _count: true,
      });
      expect(creates).toEqual([{ status: "AWAITING_APPROVAL", _count: PEOPLE }]);
      const holds = await prisma.breakerHold.findMany({ where: { runId: sync.id } });
      expect(holds).toHaveLength(1);
      expect(holds[0]!.connectedSystemId).toBe(sql.id);
      expect(holds[0]!.reason).toMatch(/^mass-change breaker: \d+ creates > maxCreates 290$/);
      // The figures as last judged: the whole run's, at its end.
      expect(holds[0]!.figures).toMatchObject({ creates: PEOPLE });
    } finally {
      await world.close();
    }
  }, 180_000);

  it("cancelled mid-run, stops every partition", async () => {
    const world = await partitionedWorld();
    try {
      const runId = await world.start("FULL_SYNC");
      await waitFor(async () => (await partitionsOf(world, runId)).some((p) => p.processed > 0), 60_000, 20);
      await cancelRun({ ...world.services, pool: world.services.db.pool, staleAfterMs: 3000 }, runId);
      const run = await waitForStatus(world.services, runId, ENDED, 60_000);
      expect(run.status).toBe("CANCELLED");
      // Every partition stops at its next batch boundary: none is left running or queued.
      const partitions = await waitFor(async () => {
        const list = await partitionsOf(world, runId);
        return list.every((p) => p.status !== "RUNNING") ? list : null;
      }, 30_000);
      expect(partitions.some((p) => p.status === "CANCELLED")).toBe(true);
      expect(partitions.filter((p) => p.status === "QUEUED")).toEqual([]);
      // Nothing committed after the cancel: the run's counts are still what the partitions committed.
      const after = await world.services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
      const processed = partitions.reduce((n, p) => n + p.processed, 0);
      expect(after.processed).toBe(processed);
      expect(processed).toBeLessThan(after.total ?? 0);
    } finally {
      await world.close();
    }
  }, 180_000);

  it("paused mid-run, hands every partition back; resumed, ends like the unpartitioned sync", async () => {
    const world = await partitionedWorld();
    try {
      const runId = await world.start("FULL_SYNC");
      await waitFor(async () => (await partitionsOf(world, runId)).some((p) => p.processed > 0), 60_000, 20);
      await pauseRun({ ...world.services, pool: world.services.db.pool }, runId);
      await waitForStatus(world.services, runId, ["PAUSED"], 60_000);
      const paused = await waitFor(async () => {
        const list = await partitionsOf(world, runId);
        return list.every((p) => p.status !== "RUNNING") ? list : null;
      }, 30_000);
      // Nothing is cancelled by a pause: what was not done waits, with its checkpoint, for the resume.
      expect(paused.filter((p) => !["QUEUED", "COMPLETED"].includes(p.status))).toEqual([]);
      expect(paused.some((p) => p.status === "QUEUED")).toBe(true);
      expect((await world.services.startGate.resume(runId)).outcome).toBe("ACCEPTED");
      const sync = await waitForStatus(world.services, runId, ENDED, 120_000);
      const partitions = await partitionsOf(world, runId);
      expect(partitions.every((p) => p.status === "COMPLETED" && p.processed === p.size)).toBe(true);
      await expectSameCounts(sync);
      expect(await world.snapshot()).toEqual((await referenceRun).state);
    } finally {
      await world.close();
    }
  }, 180_000);

  it("loses nothing when a worker is SIGKILLed mid-partition: the other one finishes it from its checkpoint", async () => {
    const world = await partitionedWorld();
    try {
      const runId = await world.start("FULL_SYNC");
      // A partition the non-coordinating worker is in the middle of.
      const victim = await waitFor(
        async () => {
          const run = await world.services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
          const busy = (await partitionsOf(world, runId)).find(
            (p) => p.status === "RUNNING" && p.workerId && p.workerId !== run.workerId && p.processed > 0 && p.processed < p.size,
          );
          return busy ? world.workers.find((w) => w.workerId === busy.workerId) : null;
        },
        60_000,
        10,
      );
      victim!.child.kill("SIGKILL");
      await victim!.exited;
      const sync = await waitForStatus(world.services, runId, ENDED, 120_000);
      const partitions = await partitionsOf(world, runId);
      expect(partitions.every((p) => p.status === "COMPLETED" && p.processed === p.size)).toBe(true);
      // At least the killed one was claimed again (resumed from its checkpoint) by the survivor.
      expect(partitions.some((p) => p.attempt > 1)).toBe(true);
      await expectSameCounts(sync);
      expect(await world.snapshot()).toEqual((await referenceRun).state);
    } finally {
      await world.close();
    }
  }, 180_000);

  it("loses nothing when the coordinating worker is SIGKILLed: the other one takes the run over and its partitions", async () => {
    const world = await partitionedWorld();
    try {
      const runId = await world.start("FULL_SYNC");
      const coordinator = await waitFor(
        async () => {
          const run = await world.services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
          const started = (await partitionsOf(world, runId)).some((p) => p.processed > 0);
          return started && run.workerId ? world.workers.find((w) => w.workerId === run.workerId) : null;
        },
        60_000,
        10,
      );
      coordinator!.child.kill("SIGKILL");
      await coordinator!.exited;
      const sync = await waitForStatus(world.services, runId, ENDED, 120_000);
      // Recovered (a second claim of the run) by the survivor, which finished every partition.
      expect(sync.attempt).toBeGreaterThan(1);
      const partitions = await partitionsOf(world, runId);
      expect(partitions.every((p) => p.status === "COMPLETED" && p.processed === p.size)).toBe(true);
      await expectSameCounts(sync);
      expect(await world.snapshot()).toEqual((await referenceRun).state);
    } finally {
      await world.close();
    }
  }, 180_000);
});
