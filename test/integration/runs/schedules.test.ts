import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startScheduler } from "../../../src/jobs/scheduler.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { createReadySystem, executorsBySystem, itemExecutor, startRunsApp, waitFor } from "../../fixtures/runs.ts";
import type { TestApp } from "../../helpers/app.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startRunsApp();
});
afterAll(() => app?.stop());

const CREATE = `mutation ($input: ScheduleInput!) {
  createSchedule(input: $input) { id name cron intervalSeconds nextFireAt steps { profile connectedSystem { name } } }
}`;

const executions = (scheduleId: string) =>
  app.services.db.prisma.scheduleExecution.findMany({ where: { scheduleId }, orderBy: { createdAt: "asc" } });

const fireNow = (scheduleId: string) =>
  app.services.db.pool.query("UPDATE schedule SET next_fire_at = now() - interval '1 second' WHERE id = $1", [scheduleId]);

describe("schedules", () => {
  it("rejects an invalid cron expression when saved, with the parser's message", async () => {
    const hr = await createReadySystem(app.services, "hr-cron");
    const r = await app.gql(CREATE, {
      input: { name: "bad-cron", cron: "61 * * * *", steps: [{ connectedSystemId: hr.id, profile: "FULL_IMPORT" }] },
    });
    expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(r.errors?.[0]?.message).toBe(
      'invalid cron expression "61 * * * *": Constraint error, got value 61 expected range 0-59',
    );
    const both = await app.gql(CREATE, {
      input: {
        name: "both",
        cron: "* * * * *",
        intervalSeconds: 5,
        steps: [{ connectedSystemId: hr.id, profile: "FULL_IMPORT" }],
      },
    });
    expect(both.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    const noSteps = await app.gql(CREATE, { input: { name: "empty", intervalSeconds: 5, steps: [] } });
    expect(noSteps.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(await app.services.db.prisma.schedule.count()).toBe(0);
    const ok = await app.gql(CREATE, {
      input: { name: "nightly", cron: "0 2 * * *", steps: [{ connectedSystemId: hr.id, profile: "FULL_IMPORT" }] },
    });
    expect(ok.errors).toBeUndefined();
    const next = new Date(ok.data.createSchedule.nextFireAt);
    expect(next.getUTCHours()).toBe(2);
    expect(next.getUTCMinutes()).toBe(0);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(ok.data.createSchedule.steps).toEqual([{ profile: "FULL_IMPORT", connectedSystem: { name: "hr-cron" } }]);
    await app.gql(`mutation ($id: ID!) { deleteSchedule(id: $id) }`, { id: ok.data.createSchedule.id });
  });

  it("records a deduped scheduled start as an outcome, not an error", async () => {
    const hr = await createReadySystem(app.services, "hr-dedupe");
    const manual = await app.services.startGate.start({ connectedSystemId: hr.id, profile: "FULL_IMPORT", trigger: "MANUAL" });
    const schedule = await app.services.schedules.create({
      name: "dedupe",
      intervalSeconds: 3600,
      steps: [{ connectedSystemId: hr.id, profile: "FULL_IMPORT" }],
    });
    await fireNow(schedule.id);
    const scheduler = startScheduler(app.services);
    try {
      await scheduler.tick();
    } finally {
      await scheduler.stop();
    }
    const [execution] = await executions(schedule.id);
    expect(execution).toMatchObject({ status: "SKIPPED", runId: manual.run.id });
    expect(execution?.outcome).toContain("DEDUPED (ALREADY_QUEUED)");
    const after = await app.services.db.prisma.schedule.findUniqueOrThrow({ where: { id: schedule.id } });
    expect(after.nextFireAt!.getTime()).toBeGreaterThan(Date.now() + 3000_000);
    await app.gql(`mutation ($id: ID!) { cancelRun(id: $id) { status } }`, { id: manual.run.id });
  });

  describe("with a worker", () => {
    let worker: WorkerHandle;
    beforeAll(async () => {
      const ok = itemExecutor({ total: 6, batchSize: 3, delayMs: 50 });
      worker = await startWorker({
        services: app.services,
        executors: {
          ...executorsBySystem({
            "hr-seq": ok,
            "hr-interval": ok,
            "hr-fails": itemExecutor({ total: 4, batchSize: 2, permanentError: true }),
          }),
          "connector.export": ok,
        },
      });
    });
    afterAll(() => worker.stop());

    it("fires an interval schedule through the start gate", async () => {
      const hr = await createReadySystem(app.services, "hr-interval");
      const r = await app.gql(CREATE, {
        input: { name: "every-second", intervalSeconds: 1, steps: [{ connectedSystemId: hr.id, profile: "FULL_IMPORT" }] },
      });
      const scheduleId = r.data.createSchedule.id as string;
      const raw = (await app.services.db.prisma.schedule.findUniqueOrThrow({ where: { name: "every-second" } })).id;
      const done = await waitFor(async () => (await executions(raw)).find((e) => e.status === "COMPLETED"));
      const run = await app.services.db.prisma.run.findUniqueOrThrow({ where: { id: done.runId! } });
      expect(run).toMatchObject({ status: "COMPLETED", trigger: "SCHEDULE", scheduleId: raw, created: 6 });
      await app.gql(`mutation ($id: ID!) { deleteSchedule(id: $id) }`, { id: scheduleId });
    });

    it("runs a sequence in order, each step only after the previous one completed", async () => {
      const hr = await createReadySystem(app.services, "hr-seq");
      const ldap = await createReadySystem(app.services, "ldap-seq");
      const schedule = await app.services.schedules.create({
        name: "hr-to-ldap",
        intervalSeconds: 3600,
        steps: [
          { connectedSystemId: hr.id, profile: "FULL_IMPORT" },
          { connectedSystemId: hr.id, profile: "FULL_SYNC" },
          { connectedSystemId: ldap.id, profile: "EXPORT" },
        ],
      });
      await fireNow(schedule.id);
      const done = await waitFor(async () => (await executions(schedule.id)).find((e) => e.status !== "RUNNING"), 20_000);
      expect(done).toMatchObject({ status: "COMPLETED", stepIndex: 2 });
      const runs = await app.services.db.prisma.run.findMany({
        where: { scheduleId: schedule.id },
        orderBy: { createdAt: "asc" },
      });
      expect(runs.map((r) => [r.operation, r.status])).toEqual([
        ["connector.full_import", "COMPLETED"],
        ["connector.full_sync", "COMPLETED"],
        ["connector.export", "COMPLETED"],
      ]);
      for (let i = 1; i < runs.length; i++)
        expect(runs[i]!.createdAt.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.finishedAt!.getTime());
    });

    it("stops a sequence at a failed step", async () => {
      const hr = await createReadySystem(app.services, "hr-fails");
      const schedule = await app.services.schedules.create({
        name: "stops",
        intervalSeconds: 3600,
        steps: [
          { connectedSystemId: hr.id, profile: "FULL_IMPORT" },
          { connectedSystemId: hr.id, profile: "FULL_SYNC" },
        ],
      });
      await fireNow(schedule.id);
      const done = await waitFor(async () => (await executions(schedule.id)).find((e) => e.status !== "RUNNING"));
      expect(done).toMatchObject({ status: "FAILED", stepIndex: 0 });
      expect(done.outcome).toContain("step 1 ended FAILED");
      await new Promise((r) => setTimeout(r, 400));
      expect(await app.services.db.prisma.run.count({ where: { scheduleId: schedule.id } })).toBe(1);
    });
  });
});
