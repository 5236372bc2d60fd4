import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import type { Services } from "../../../src/services.ts";
import {
  createReadySystem,
  ensureItemTable,
  executorsBySystem,
  FAST_RUN_OPTIONS,
  itemExecutor,
  okFactory,
  waitForStatus,
} from "../../fixtures/runs.ts";
import { runCli } from "../../helpers/cli.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
let worker: WorkerHandle | null = null;
let env: Record<string, string>;

beforeAll(async () => {
  services = await createTestServices({}, { connectorFactory: okFactory, runOptions: FAST_RUN_OPTIONS });
  await ensureItemTable(services.db.pool);
  env = { DATABASE_URL: services.db.url, DATA_DIR: mkdtempSync(path.join(tmpdir(), "metasync-cli-")), LOG_LEVEL: "silent" };
});
afterAll(async () => {
  await worker?.stop();
  await closeTestServices(services);
});

// The CLI processes spend most of their time starting (tsx): run them side by side.
describe.concurrent("metasync run", () => {
  beforeAll(async () => {
    worker = await startWorker({
      services,
      executors: executorsBySystem({
        "hr-cli": itemExecutor({ total: 9, batchSize: 3, delayMs: 100 }),
        "hr-cli-broken": itemExecutor({ total: 4, batchSize: 2, permanentError: true }),
      }),
      scheduler: false,
    });
  });
  afterAll(async () => {
    await worker?.stop();
    worker = null;
  });

  it("starts through the gate, follows live progress, exits 0 on COMPLETED and 1 otherwise", async () => {
    await createReadySystem(services, "hr-cli");
    const cli = runCli(["run", "hr-cli", "full_sync", "--wait"], env);
    expect(await cli.exit).toBe(0);
    const out = cli.output();
    expect(out).toMatch(/Accepted: connector\.full_sync on hr-cli is queued as run [0-9a-f-]{36}\./);
    // Progress is coalesced (at most ~10 updates/s): some batch is shown live, not necessarily each.
    expect(out).toMatch(/progress: RUNNING importing batch [1-3] [369]\/9/);
    expect(out).toMatch(/run [0-9a-f-]{36} COMPLETED: fetched 9, created 9, updated 0, deleted 0, unchanged 0, failed 0/);
    const runs = await services.db.prisma.run.findMany({ where: { connectedSystem: { name: "hr-cli" } } });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ trigger: "MANUAL", status: "COMPLETED" });

    // Syncs share the metaverse scope: the failing one runs after, not beside, the first.
    await createReadySystem(services, "hr-cli-broken");
    const broken = runCli(["run", "hr-cli-broken", "FULL_SYNC", "--wait"], env);
    expect(await broken.exit).toBe(1);
    expect(broken.output()).toMatch(/FAILED \(SCHEMA_VIOLATION/);
  });

  it("prints the blocked reason and next steps, exits 1, queues nothing", async () => {
    await createReadySystem(services, "hr-cli-norules", { rules: [] });
    const cli = runCli(["run", "hr-cli-norules", "delta-sync", "--dry-run"], env);
    expect(await cli.exit).toBe(1);
    expect(cli.output()).toContain("Blocked (NO_SYNC_RULES)");
    expect(cli.output()).toMatch(/next: Create an INBOUND sync rule/);
    const run = await services.db.prisma.run.findFirstOrThrow({ where: { connectedSystem: { name: "hr-cli-norules" } } });
    expect(run).toMatchObject({ status: "BLOCKED", dryRun: true, jobId: null });
  });

  it("rejects an unknown system (NOT_FOUND) and an unknown profile (BAD_USER_INPUT) with exit 2", async () => {
    const missing = runCli(["run", "nope", "full_import"], env);
    expect(await missing.exit).toBe(2);
    expect(missing.output()).toContain('connected system "nope" was not found (NOT_FOUND)');
    const badProfile = runCli(["run", "hr-cli", "everything"], env);
    expect(await badProfile.exit).toBe(2);
    expect(badProfile.output()).toContain('unknown profile "everything" (BAD_USER_INPUT)');
  });
});

describe("metasync worker", () => {
  it("executes queued runs with the default executors until SIGTERM", async () => {
    const system = await createReadySystem(services, "hr-cli-worker");
    const cli = runCli(["worker"], { ...env, LOG_LEVEL: "info" });
    await cli.waitFor(/worker started/);
    const result = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_SYNC", trigger: "API" });
    // The default executors are the engine's: a sync of a system with nothing imported completes empty.
    const run = await waitForStatus(services, result.run.id, ["FAILED", "COMPLETED"]);
    expect(run).toMatchObject({ status: "COMPLETED", fetched: 0 });
    const claimed = await services.db.prisma.runEvent.findFirstOrThrow({ where: { runId: run.id, type: "run.started" } });
    expect(String((claimed.data as { workerId: string }).workerId)).toContain(String(cli.child.pid));
    cli.child.kill("SIGTERM");
    expect(await cli.exit).toBe(0);
  });
});
