import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS, spawnWorkerProcess, waitFor } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// A worker SIGKILLed in the middle of applying a burst of pushes: after another worker takes the
// run over, every accepted push is applied exactly once (one connector-space object, one identity
// and one CSO_ADDED change each), in real worker processes over a real PostgreSQL.
const dir = mkdtempSync(path.join(tmpdir(), "metasync-rt-kill-"));
const PUSHES = 600;
let app: TestApp;
let hr: string;
const workers: Awaited<ReturnType<typeof spawnWorkerProcess>>[] = [];

beforeAll(async () => {
  const file = path.join(dir, "hr.csv");
  writeFileSync(file, "employeeId,givenName\n");
  app = await startTestApp(await createTestServices({}, { runOptions: FAST_RUN_OPTIONS }));
  hr = rawId(
    (
      await ok(app, CREATE_SYSTEM, {
        i: {
          name: "hr",
          kind: "CSV",
          config: { path: file, anchor: "employeeId", objectType: "person", columns: ["employeeId", "givenName"] },
          realtime: { enabled: true, windowMs: 0, batchSize: 10_000 },
        },
      })
    ).createConnectedSystem.id,
  );
  await ok(app, REFRESH, { id: hr });
  await ok(app, CREATE_RULE, {
    i: {
      name: "hr-in",
      connectedSystemId: hr,
      direction: "INBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      projectToMetaverse: true,
      joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
      attributeFlows: ["employeeId", "givenName"].map((a) => ({ target: a, source: a })),
    },
  });
});
afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
  await Promise.all(workers.map((w) => w.exited));
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  rmSync(dir, { recursive: true, force: true });
});

describe("real-time: a worker killed during a burst", () => {
  it("applies every accepted push exactly once after another worker takes the run over", async () => {
    const db = app.services.db;
    const env = (kill: string | null) => ({
      WORKER_EXECUTORS: "default",
      WORKER_BATCHES: JSON.stringify({ import: 50, sync: 50 }),
      WORKER_STALE_MS: "1500",
      ...(kill ? { WORKER_KILL: kill } : {}),
    });
    // Pushed while no worker runs: all of them wait in the inbox, accepted.
    const records = Array.from({ length: PUSHES }, (_, i) => ({
      op: "upsert",
      objectType: "person",
      anchor: `E${i}`,
      attributes: { employeeId: `E${i}`, givenName: `Given ${i}` },
    }));
    for (let i = 0; i < PUSHES; i += 200) {
      const res = await fetch(`${app.url}/hooks/hr`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ records: records.slice(i, i + 200) }),
      });
      expect(res.status).toBe(202);
    }
    // Armed to die after the REALTIME run's 4th committed batch (200 of 600 applied).
    const doomed = await spawnWorkerProcess(
      db.url,
      { total: 0, batchSize: 1 },
      env('{"operation":"connector.realtime","at":"afterBatch","n":4}'),
    );
    workers.push(doomed);
    await doomed.exited;
    expect(doomed.child.signalCode).toBe("SIGKILL");
    const applied = await db.prisma.inboxEntry.count({ where: { connectedSystemId: hr, appliedAt: { not: null } } });
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThan(PUSHES);

    workers.push(await spawnWorkerProcess(db.url, { total: 0, batchSize: 1 }, env(null)));
    await waitFor(
      async () => (await db.prisma.inboxEntry.count({ where: { connectedSystemId: hr, appliedAt: null } })) === 0,
      60_000,
      200,
    );
    await waitFor(async () => {
      const active = await db.prisma.run.count({ where: { status: { in: ["QUEUED", "RUNNING"] } } });
      return active === 0;
    }, 60_000);
    const objects = await db.pool.query(
      "SELECT count(*)::int AS n, count(DISTINCT anchor)::int AS anchors FROM connector_space_object WHERE connected_system_id = $1",
      [hr],
    );
    expect(objects.rows[0]).toEqual({ n: PUSHES, anchors: PUSHES });
    const identities = await db.pool.query("SELECT count(*)::int AS n FROM metaverse_object WHERE type = 'person'");
    expect(identities.rows[0].n).toBe(PUSHES);
    const created = await db.pool.query(
      "SELECT count(*)::int AS n, count(DISTINCT anchor)::int AS anchors FROM run_change WHERE change_type = 'CSO_ADDED'",
    );
    expect(created.rows[0]).toEqual({ n: PUSHES, anchors: PUSHES });
    // One run did it all: the killed run, taken over and finished from its checkpoint.
    const runs = await db.prisma.run.findMany({ where: { profile: "REALTIME" }, select: { status: true, attempt: true } });
    expect(runs.some((r) => r.status === "COMPLETED" && r.attempt > 1)).toBe(true);
    expect(runs.every((r) => r.status === "COMPLETED")).toBe(true);
  });
});
