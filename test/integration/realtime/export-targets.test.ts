import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inTransaction } from "../../../src/db/transaction.ts";
import { realtimeExportTargets } from "../../../src/engine/realtime/inbox-store.ts";
import { startRealtimeDrainer } from "../../../src/jobs/realtime-drainer.ts";
import type { Services } from "../../../src/services.ts";
import { waitFor } from "../../fixtures/runs.ts";
import { createCsvSystem, insertRun } from "../../helpers/fixtures.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// The real-time sweep starts EXPORT runs for targets holding due exports that a REALTIME run
// planned, and for no other: a full sync's backlog waits for its own export. It reads only the
// REALTIME runs not yet settled, never the other open exports, however many there are.
let services: Services;
let source: string;
let realtimeTarget: string;
let syncTarget: string;
beforeAll(async () => {
  services = await createTestServices();
  source = (await createCsvSystem(services, "rt-source")).id;
  realtimeTarget = (await createCsvSystem(services, "rt-target")).id;
  syncTarget = (await createCsvSystem(services, "sync-target")).id;
});
afterAll(() => closeTestServices(services));

const q = (sql: string, values: unknown[] = []) => services.db.pool.query(sql, values);
const targets = () => inTransaction(services.db.pool, realtimeExportTargets);
const settled = async (runId: string) =>
  (await q("SELECT exports_settled FROM run WHERE id = $1", [runId])).rows[0].exports_settled as boolean;

/** `count` PENDING exports to `systemId` planned by `runId`. */
async function planExports(systemId: string, runId: string, count: number): Promise<string[]> {
  const { rows } = await q(
    `INSERT INTO pending_export (connected_system_id, change_type, status, attribute_changes, planning_run_id)
     SELECT $1, 'CREATE', 'PENDING', '[]', $2 FROM generate_series(1, $3) RETURNING id`,
    [systemId, runId, count],
  );
  return rows.map((r) => r.id);
}

/** Rows read from pending_export by the sweep's statements, from their EXPLAIN ANALYZE. */
async function pendingExportRowsRead(): Promise<number> {
  const client = await services.db.pool.connect();
  let rows = 0;
  const walk = (node: any) => {
    if (node["Relation Name"] === "pending_export") rows += node["Actual Rows"] * node["Actual Loops"];
    for (const child of node.Plans ?? []) walk(child);
  };
  const explaining = {
    query: async (sql: string, values?: unknown[]) => {
      const { rows: plan } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, values);
      walk(plan[0]["QUERY PLAN"][0].Plan);
      return client.query(sql, values);
    },
  };
  try {
    await client.query("BEGIN");
    await realtimeExportTargets(explaining as any);
    await client.query("ROLLBACK");
  } finally {
    client.release();
  }
  return rows;
}

describe("real-time export targets", () => {
  it("names a target with due exports a REALTIME run planned, not one holding a full sync's", async () => {
    const fullSync = await insertRun(services, syncTarget, "FULL_SYNC");
    await planExports(syncTarget, fullSync, 5000);
    expect(await targets()).toEqual([]);

    const realtime = await insertRun(services, source, "REALTIME");
    const [planned] = await planExports(realtimeTarget, realtime, 1);
    expect(await targets()).toEqual([realtimeTarget]);
    // The 5,000 open exports of the full sync are never read: only the REALTIME run's one.
    expect(await pendingExportRowsRead()).toBe(1);

    // Sent: the run is settled and no longer looked at; an operator's retry watches it again.
    await q("UPDATE pending_export SET status = 'ERROR' WHERE id = $1", [planned]);
    expect(await targets()).toEqual([]);
    expect(await settled(realtime)).toBe(true);
    expect(await services.pendingExports.retry([planned!])).toEqual([planned]);
    expect(await settled(realtime)).toBe(false);
    expect(await targets()).toEqual([realtimeTarget]);
  });

  it("keeps watching a run whose exports wait for approval or a retry, and skips a running one", async () => {
    const realtime = await insertRun(services, source, "REALTIME");
    const [held, failed] = await planExports(realtimeTarget, realtime, 2);
    await q("UPDATE pending_export SET status = 'AWAITING_APPROVAL' WHERE id = $1", [held]);
    await q("UPDATE pending_export SET status = 'FAILED', next_retry_at = now() + interval '1 hour' WHERE id = $1", [failed]);
    const before = await targets();
    expect(before).not.toContain(syncTarget);
    expect(await settled(realtime)).toBe(false);

    // A REALTIME run still running: its exports wait for its end (as the claim's do).
    const running = await insertRun(services, source, "REALTIME");
    await q("UPDATE run SET status = 'RUNNING' WHERE id = $1", [running]);
    await planExports(syncTarget, running, 1);
    expect(await targets()).not.toContain(syncTarget);
    await q("UPDATE run SET status = 'COMPLETED' WHERE id = $1", [running]);
    expect(await targets()).toContain(syncTarget);
    await q("UPDATE pending_export SET status = 'EXPORTED' WHERE planning_run_id = $1", [running]);
    expect(await targets()).not.toContain(syncTarget);
  });

  it("the drainer's sweep starts an EXPORT run for the real-time target only", async () => {
    await q("UPDATE pending_export SET status = 'CANCELLED' WHERE connected_system_id = $1", [realtimeTarget]);
    const realtime = await insertRun(services, source, "REALTIME");
    await planExports(realtimeTarget, realtime, 3);
    const drainer = startRealtimeDrainer(services, { sweepMs: 100 });
    try {
      const exportRuns = async (systemId: string) =>
        (
          await q(
            "SELECT count(*)::int AS n FROM run WHERE profile = 'EXPORT' AND trigger = 'REALTIME' AND connected_system_id = $1",
            [systemId],
          )
        ).rows[0].n as number;
      await waitFor(async () => (await exportRuns(realtimeTarget)) === 1, 10_000);
      // Several sweeps later (one every 100 ms): still none for the full sync's target, still one for the other.
      await new Promise((r) => setTimeout(r, 500));
      expect(await exportRuns(syncTarget)).toBe(0);
      expect(await exportRuns(realtimeTarget)).toBe(1);
    } finally {
      await drainer.stop();
    }
  });
});
