import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { createReadySystem, itemExecutor, rawId, startRunsApp, waitFor, waitForStatus } from "../../fixtures/runs.ts";
import type { TestApp } from "../../helpers/app.ts";

let app: TestApp;
const ITEMS = { total: 20, batchSize: 2, delayMs: 120 };
beforeAll(async () => {
  app = await startRunsApp();
});
afterAll(() => app?.stop());

const PAUSE = `mutation ($id: ID!) { pauseRun(id: $id) { id status pauseRequestedAt } }`;
const RESUME = `mutation ($id: ID!) { resumeRun(id: $id) { outcome run { id } reasonCode reason nextSteps } }`;
const START = `mutation ($id: ID!, $p: RunProfile!) { startRun(input: { connectedSystemId: $id, profile: $p }) { outcome run { id } reasonCode reason nextSteps } }`;

const worker = () =>
  startWorker({ services: app.services, executors: { "connector.full_import": itemExecutor(ITEMS) }, scheduler: false });
const items = async (runId: string) =>
  (await app.services.db.pool.query("SELECT n FROM test_item WHERE run_id = $1 ORDER BY n", [runId])).rows.map((r) => r.n);
const run = (id: string) => app.services.db.prisma.run.findUniqueOrThrow({ where: { id } });

describe("pauseRun and resumeRun", () => {
  it("pauses at a batch boundary keeping the checkpoint and the scope, survives a worker restart, and resumes the same run to the end", async () => {
    const system = await createReadySystem(app.services, "hr-pause");
    const started = await app.gql(START, { id: system.id, p: "FULL_IMPORT" });
    const runId = rawId(started.data.startRun.run.id);
    let w: WorkerHandle | null = await worker();
    try {
      await waitFor(async () => ((await run(runId)).batch >= 2 ? true : null));
      const asked = await app.gql(PAUSE, { id: runId });
      expect(asked.errors).toBeUndefined();
      expect(asked.data.pauseRun.pauseRequestedAt).not.toBeNull();
      await waitForStatus(app.services, runId, ["PAUSED"]);
      const paused = await run(runId);
      const done = await items(runId);
      // Stopped between batches: every committed batch is there, nothing after it, and more remains.
      expect(done).toEqual(Array.from({ length: paused.processed }, (_, i) => i));
      expect(paused.processed).toBeLessThan(ITEMS.total);
      expect(paused.checkpoint).toEqual({ next: paused.processed });
      expect(paused.workerId).toBeNull();
      expect((await app.gql(PAUSE, { id: runId })).data.pauseRun.status).toBe("PAUSED"); // asking again: no change

      // It keeps its scope: the same operation dedupes to it, another one on the system is busy.
      const again = (await app.gql(START, { id: system.id, p: "FULL_IMPORT" })).data.startRun;
      expect(again).toMatchObject({ outcome: "DEDUPED", reasonCode: "ALREADY_PAUSED" });
      expect(rawId(again.run.id)).toBe(runId);
      expect(again.nextSteps[0]).toContain("resumeRun");
      const busy = (await app.gql(START, { id: system.id, p: "FULL_SYNC" })).data.startRun;
      expect(busy.outcome).toBe("SCOPE_BUSY");
      expect(rawId(busy.run.id)).toBe(runId);
      expect(busy.nextSteps.join(" ")).toContain("paused");

      // A restarted worker (and its recovery loop) leaves a paused run alone.
      await w.stop();
      w = await worker();
      await new Promise((r) => setTimeout(r, 1000));
      expect((await run(runId)).status).toBe("PAUSED");
      expect(await items(runId)).toEqual(done);

      const resumed = (await app.gql(RESUME, { id: runId })).data.resumeRun;
      expect(resumed.outcome).toBe("ACCEPTED");
      expect(rawId(resumed.run.id)).toBe(runId);
      const finished = await waitForStatus(app.services, runId, ["COMPLETED", "FAILED"]);
      expect(finished.status).toBe("COMPLETED");
      // Each item once: no batch lost, none redone (the primary key would refuse a second write).
      expect(await items(runId)).toEqual(Array.from({ length: ITEMS.total }, (_, i) => i));
      const events = await app.services.db.prisma.runEvent.findMany({ where: { runId }, orderBy: { id: "asc" } });
      const types = events.map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(["run.pause_requested", "run.paused", "run.resumed", "run.completed"]));
      expect(types.indexOf("run.paused")).toBeLessThan(types.indexOf("run.resumed"));
    } finally {
      await w?.stop();
    }
  });

  it("refuses to pause a queued or finished run and to resume a run that is not paused, with CONFLICT; a paused run can be cancelled", async () => {
    const system = await createReadySystem(app.services, "hr-pause-edges");
    const queued = rawId((await app.gql(START, { id: system.id, p: "FULL_IMPORT" })).data.startRun.run.id);
    const refused = await app.gql(PAUSE, { id: queued });
    expect(refused.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    expect(refused.errors?.[0]?.message).toContain("QUEUED");
    const notPaused = await app.gql(RESUME, { id: queued });
    expect(notPaused.errors?.[0]?.extensions?.code).toBe("CONFLICT");

    const w = await worker();
    try {
      await waitFor(async () => ((await run(queued)).batch >= 1 ? true : null));
      await app.gql(PAUSE, { id: queued });
      await waitForStatus(app.services, queued, ["PAUSED"]);
      const cancelled = await app.gql(`mutation ($id: ID!) { cancelRun(id: $id) { status } }`, { id: queued });
      expect(cancelled.data.cancelRun.status).toBe("CANCELLED");
      const finished = await app.gql(PAUSE, { id: queued });
      expect(finished.errors?.[0]?.extensions?.code).toBe("CONFLICT");
      // The scope is free again.
      expect((await app.gql(START, { id: system.id, p: "FULL_IMPORT" })).data.startRun.outcome).toBe("ACCEPTED");
    } finally {
      await w.stop();
    }
  });

  it("keeps a paused run's system and pinned settings (delete refused), and a resume whose checks fail answers BLOCKED and stays PAUSED", async () => {
    const system = await createReadySystem(app.services, "hr-pause-blocked");
    const runId = rawId((await app.gql(START, { id: system.id, p: "FULL_IMPORT" })).data.startRun.run.id);
    const w = await worker();
    try {
      await waitFor(async () => ((await run(runId)).batch >= 1 ? true : null));
      await app.gql(PAUSE, { id: runId });
      await waitForStatus(app.services, runId, ["PAUSED"]);
    } finally {
      await w.stop();
    }
    // The run's pinned connection settings cannot go while it is paused: the system is kept.
    const deleted = await app.gql(`mutation ($id: ID!) { deleteConnectedSystem(id: $id) }`, { id: system.id });
    expect(deleted.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    expect(await app.services.db.prisma.connectionSettings.count({ where: { connectedSystemId: system.id } })).toBe(1);

    // What the run needs broke meanwhile (its schema is gone): BLOCKED with next steps, still PAUSED.
    const types = await app.services.db.prisma.objectType.findMany({ where: { connectedSystemId: system.id } });
    await app.services.db.prisma.objectType.deleteMany({ where: { connectedSystemId: system.id } });
    const blocked = await app.gql(RESUME, { id: runId });
    expect(blocked.data.resumeRun).toMatchObject({ outcome: "BLOCKED", reasonCode: expect.any(String) });
    expect(blocked.data.resumeRun.nextSteps.length).toBeGreaterThan(0);
    expect((await run(runId)).status).toBe("PAUSED");

    // Fixed: the same run resumes and ends.
    await app.services.db.prisma.objectType.createMany({
      data: types.map((t) => ({ connectedSystemId: t.connectedSystemId, name: t.name, anchorAttribute: t.anchorAttribute })),
    });
    expect((await app.gql(RESUME, { id: runId })).data.resumeRun.outcome).toBe("ACCEPTED");
    const again = await worker();
    try {
      await waitForStatus(app.services, runId, ["COMPLETED"], 30_000);
    } finally {
      await again.stop();
    }
  });
});
