import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../src/services.ts";
import { createReadySystem, okFactory, spawnWorkerProcess, waitFor, waitForStatus } from "../fixtures/runs.ts";
import { runCli } from "../helpers/cli.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";

// metasync pause / resume / cancel / staging as real processes on a real database, with a real
// worker process running the run they control.
let services: Services;
let env: Record<string, string>;
const dir = mkdtempSync(path.join(tmpdir(), "metasync-control-"));
const file = path.join(dir, "hr.csv");

beforeAll(async () => {
  writeFileSync(file, "id\n1\n");
  services = await createTestServices({}, { connectorFactory: okFactory });
  env = { DATABASE_URL: services.db.url, DATA_DIR: dir, METASYNC_FILE_ROOTS: tmpdir(), LOG_LEVEL: "silent" };
});
afterAll(async () => {
  await closeTestServices(services);
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...args: string[]) {
  const run = runCli(args, env);
  return { code: await run.exit, output: run.output() };
}

describe("metasync pause, resume, cancel and staging", () => {
  it("pauses a running run at a batch boundary and resumes it to the end; refuses what its status does not allow", async () => {
    const system = await createReadySystem(services, "hr-control", { path: file });
    const started = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "MANUAL" });
    const runId = started.run!.id;

    // Queued, no worker yet: only a RUNNING run can be paused (CONFLICT, exit 1), nothing to resume.
    // Neither changes the run: both processes at once (each spends seconds loading its modules).
    const [pauseQueued, resumeQueued] = await Promise.all([cli("pause", runId), cli("resume", runId)]);
    expect(pauseQueued).toMatchObject({ code: 1, output: expect.stringContaining("QUEUED") });
    expect(resumeQueued.code).toBe(1);

    // 100 batches of 100 ms: long enough for a CLI process to start on a loaded machine (at 20
    // batches the run sometimes finished before `pause` reached it).
    const worker = await spawnWorkerProcess(services.db.url, { total: 300, batchSize: 3, delayMs: 100 });
    try {
      await waitFor(async () => (await services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } })).status === "RUNNING");
      const paused = await cli("pause", runId);
      expect(paused.code, paused.output).toBe(0);
      const run = await waitForStatus(services, runId, ["PAUSED"]);
      expect(run.processed).toBeLessThan(300);

      const resumed = await cli("resume", runId);
      expect(resumed.code, resumed.output).toBe(0);
      const done = await waitForStatus(services, runId, ["COMPLETED"], 30_000);
      expect(done.processed).toBe(300);
    } finally {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
    // Finished: pausing and cancelling change nothing.
    expect((await cli("pause", runId)).code).toBe(1);
  });

  it("cancels a queued run, and answers unknown or malformed ids as usage errors", async () => {
    const system = await createReadySystem(services, "hr-cancel", { path: file });
    const runId = (await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "MANUAL" }))
      .run!.id;
    // The usage errors touch no run: they run beside the cancel.
    const [cancelled, unknown, malformed, missing] = await Promise.all([
      cli("cancel", runId),
      cli("pause", "00000000-0000-4000-8000-000000000000"),
      cli("resume", "not-an-id"),
      cli("cancel"),
    ]);
    expect(cancelled).toMatchObject({ code: 0, output: expect.stringContaining("CANCELLED") });
    expect((await services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } })).status).toBe("CANCELLED");

    expect(unknown).toMatchObject({
      code: 2,
      output: expect.stringContaining("NOT_FOUND"),
    });
    expect(malformed).toMatchObject({ code: 2, output: expect.stringContaining("run-id") });
    expect(missing.code).toBe(2);
  });

  it("turns staging on and off by system name, saying how many exports wait", async () => {
    const system = await createReadySystem(services, "accounts-control", { path: file });
    await services.db.prisma.pendingExport.create({
      data: { connectedSystemId: system.id, changeType: "CREATE", status: "PENDING", attributeChanges: [] },
    });
    // An unknown system and an unknown mode change nothing: each runs beside a change of the real one.
    const [on, unknown] = await Promise.all([cli("staging", "accounts-control", "on"), cli("staging", "nosuch", "on")]);
    expect(on).toMatchObject({
      code: 0,
      output: expect.stringContaining("1 waiting"),
    });
    expect(unknown).toMatchObject({ code: 2, output: expect.stringContaining("NOT_FOUND") });
    expect((await services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { id: system.id } })).staging).toBe(true);
    const refused = await services.startGate.start({ connectedSystemId: system.id, profile: "EXPORT", trigger: "MANUAL" });
    expect(refused.failure?.reasonCode).toBe("STAGING");

    const [off, maybe] = await Promise.all([
      cli("staging", "accounts-control", "off"),
      cli("staging", "accounts-control", "maybe"),
    ]);
    expect(off).toMatchObject({ code: 0, output: expect.stringContaining("live") });
    expect((await services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { id: system.id } })).staging).toBe(false);
    expect(maybe.code).toBe(2);
  });
});
