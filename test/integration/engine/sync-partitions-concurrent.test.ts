import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunContext } from "../../../src/engine/run-context.ts";
import { syncScope } from "../../../src/engine/sync/run-sync.ts";
import { nextFullSyncPage } from "../../../src/engine/sync/store.ts";
import { syncBatch } from "../../../src/engine/sync/sync-batch.ts";
import type { Services } from "../../../src/services.ts";
import { waitFor } from "../../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { person, sourceSystem } from "../../helpers/sync-fixtures.ts";

// Two partitions of one FULL_SYNC in flight at once, each with one object of the same person
// (same join key): the second must wait for the first to commit and then see its identity,
// never project a second one. Driven transaction by transaction, without timing.
let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

const rule = {
  projectToMetaverse: true,
  precedence: 10,
  joinRules: [{ source: "mail", metaverseAttribute: "mail" }],
  attributeFlows: [
    { target: "mail", source: "mail" },
    { target: "sn", source: "sn" },
  ],
};

/** Sync `first` in one open transaction, then `second` in another, then commit the first. */
async function twoPartitions(name: string, concurrent: boolean) {
  const mail = `${name}@example.org`;
  const hr = await sourceSystem(services, name, [person("A", { mail, sn: "Twin" }), person("B", { mail, sn: "Twin" })], rule);
  await hr.run("FULL_IMPORT");
  const pool = services.db.pool;
  const ctx = { pool, run: { id: crypto.randomUUID(), dryRun: false }, system: { id: hr.id } } as unknown as RunContext;
  const { scope } = await syncScope(ctx, "full", concurrent ? "range:start" : undefined);
  const [first, second] = await nextFullSyncPage(pool, hr.id, null, 10);
  const a = await pool.connect();
  const b = await pool.connect();
  try {
    await a.query("BEGIN");
    await b.query("BEGIN");
    const firstCounts = await syncBatch(a, scope, [first!]);
    const pid = (await b.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    const secondDone = syncBatch(b, scope, [second!]).then(async (counts) => {
      await b.query("COMMIT");
      return counts;
    });
    // With claims, the second partition is stuck on the first one's claim until it commits.
    // Without, nothing holds it: it is let finish (and commit) before the first commits, so it
    // cannot see the first's identity however the machine schedules the two.
    const waiting = concurrent ? await waitFor(() => blockedOnLock(pool, pid), 15_000, 20) : false;
    if (!concurrent) await secondDone;
    await a.query("COMMIT");
    const secondCounts = await secondDone;
    const { rows } = await pool.query("SELECT id FROM metaverse_object WHERE attributes->>'mail' = $1", [mail]);
    return { waiting, firstCounts, secondCounts, identities: rows.length };
  } finally {
    await a.query("ROLLBACK").catch(() => {});
    await b.query("ROLLBACK").catch(() => {});
    a.release();
    b.release();
  }
}

async function blockedOnLock(pool: pg.Pool, pid: number) {
  const { rows } = await pool.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [pid]);
  return rows.length > 0;
}

describe("partitions of one FULL_SYNC syncing the same person at once", () => {
  it("the second waits for the first's commit and records a duplicate instead of a second identity", async () => {
    const result = await twoPartitions("claims", true);
    expect(result.waiting).toBe(true);
    expect(result.firstCounts).toMatchObject({ created: 1, failed: 0 });
    expect(result.secondCounts).toMatchObject({ created: 0, failed: 1 });
    expect(result.identities).toBe(1);
  });

  it("without the claims (a run in one piece never needs them) the same interleaving makes two identities", async () => {
    const result = await twoPartitions("unclaimed", false);
    expect(result.secondCounts).toMatchObject({ created: 1 });
    expect(result.identities).toBe(2);
  });
});
