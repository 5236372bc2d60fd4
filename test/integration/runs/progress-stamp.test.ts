import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addPartitionBatchToRun } from "../../../src/jobs/partition-store.ts";
import { recordBatch, touchHeartbeat } from "../../../src/jobs/run-store.ts";
import type { Services } from "../../../src/services.ts";
import { createRunningRun } from "../../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// A run's progress.updatedAt is what subscribers (and the fan-out bench's lag) compare arrival
// with: it must be when the batch's progress was written, at the end of its transaction, not
// when that transaction began. The heartbeat likewise is what recovery judges a run alive by.

let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

/** Runs `write` at the end of a transaction that has already worked for 300 ms; returns the transaction's start. */
async function afterLongBatch(write: (client: import("pg").PoolClient) => Promise<unknown>) {
  const client = await services.db.pool.connect();
  try {
    await client.query("BEGIN");
    const began = (await client.query<{ now: Date }>("SELECT now()")).rows[0]!.now;
    await client.query("SELECT pg_sleep(0.3)");
    await write(client);
    await client.query("COMMIT");
    return began;
  } finally {
    client.release();
  }
}

describe("progress timestamps", () => {
  it("a batch's progress is stamped when it is written, not when its transaction began", async () => {
    const run = (await createRunningRun(services, "stamp-batch", "FULL_SYNC")).run;
    const began = await afterLongBatch((c) =>
      recordBatch(c, run.id, { counts: { created: 5 }, phase: "syncing", processed: 5, total: 10, checkpoint: null }),
    );
    const row = await services.db.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(row.processed).toBe(5);
    expect(row.progressUpdatedAt.getTime() - began.getTime()).toBeGreaterThanOrEqual(300);
  });

  it("so is a partition's batch added to its run", async () => {
    const run = (await createRunningRun(services, "stamp-partition", "FULL_SYNC")).run;
    const began = await afterLongBatch((c) => addPartitionBatchToRun(c, run.id, { created: 3 }, 3));
    const row = await services.db.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(row.processed).toBe(3);
    expect(row.progressUpdatedAt.getTime() - began.getTime()).toBeGreaterThanOrEqual(300);
  });

  it("a batch's heartbeat is when it was written too, and so is a beat that waited for the batch's row lock", async () => {
    const run = (await createRunningRun(services, "stamp-heartbeat", "FULL_SYNC")).run;
    const began = await afterLongBatch((c) =>
      recordBatch(c, run.id, { counts: {}, phase: "syncing", processed: 0, total: null, checkpoint: null }),
    );
    const heartbeat = async () => (await services.db.prisma.run.findUniqueOrThrow({ where: { id: run.id } })).heartbeatAt!;
    expect((await heartbeat()).getTime() - began.getTime()).toBeGreaterThanOrEqual(300);

    // A beat sent while a batch holds the run row (locked, then its progress written) waits for the
    // batch's commit: stamped when it was sent, it would overwrite the batch's fresh heartbeat with an
    // older one, as old as the wait.
    await services.db.pool.query("UPDATE run SET worker_id = 'w1', attempt = 1 WHERE id = $1", [run.id]);
    let released = new Date(0);
    const batch = await services.db.pool.connect();
    try {
      await batch.query("BEGIN");
      await batch.query("SELECT 1 FROM run WHERE id = $1 FOR UPDATE", [run.id]);
      const beat = touchHeartbeat(services.db.pool, { runId: run.id, attempt: 1, workerId: "w1" });
      await batch.query("SELECT pg_sleep(0.3)");
      await recordBatch(batch, run.id, { counts: {}, phase: "syncing", processed: 0, total: null, checkpoint: null });
      released = (await batch.query<{ t: Date }>("SELECT clock_timestamp() AS t")).rows[0]!.t;
      await batch.query("COMMIT");
      expect(await beat).toBe("RUNNING");
    } finally {
      batch.release();
    }
    expect((await heartbeat()).getTime()).toBeGreaterThanOrEqual(released.getTime());
  });
});
