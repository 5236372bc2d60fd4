import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { defaultExecutors } from "../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../src/jobs/worker.ts";
import type { Services } from "../../src/services.ts";
import { FAST_RUN_OPTIONS, waitForStatus } from "../fixtures/runs.ts";
import { runCli } from "./cli.ts";
import { closeTestServices, createTestServices } from "./services.ts";

export const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));

/**
 * One example of examples/ against real services: the CLI applies the file and discovers the
 * systems (as a user would), the engine runs in this process's worker, on this test file's database.
 */
export interface ExampleHarness {
  services: Services;
  /** A private copy of examples/<folder> (the tests edit the data files). */
  files: string;
  /** `metasync <args>` with the harness's database, key and `env`; resolves with output, fails on exit != 0. */
  cli(args: string[], env?: Record<string, string>): Promise<string>;
  /** A run through the start gate, awaited; fails the test unless it COMPLETED. */
  run(system: string, profile: "FULL_IMPORT" | "DELTA_IMPORT" | "FULL_SYNC" | "DELTA_SYNC" | "EXPORT"): Promise<RunCounts>;
  /** Stop the worker (runs then wait in the queue) and start a new one. */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

type RunCounts = {
  id: string;
  fetched: number;
  created: number;
  updated: number;
  deleted: number;
  failed: number;
  exportsQueued: number;
};

export async function startExample(folder: string | null, options: { watchers?: boolean } = {}): Promise<ExampleHarness> {
  const secretKey = randomBytes(32).toString("hex");
  // The start gate tests each connection: a loaded machine must not turn a slow answer into BLOCKED.
  const services = await createTestServices(
    { secretKey },
    { runOptions: { ...FAST_RUN_OPTIONS, connectionTestTimeoutMs: 10_000 } },
  );
  let worker: WorkerHandle | null = await startWorker({
    services,
    executors: defaultExecutors,
    scheduler: false,
    watchers: options.watchers,
  });
  const files = mkdtempSync(path.join(tmpdir(), "metasync-example-"));
  if (folder) cpSync(path.join(EXAMPLES, folder), files, { recursive: true });
  const base = { DATABASE_URL: services.db.url, METASYNC_SECRET_KEY: secretKey, DATA_DIR: files, LOG_LEVEL: "warn" };
  return {
    services,
    files,
    async cli(args, env = {}) {
      const child = runCli(args, { ...base, ...env });
      const code = await child.exit;
      expect(code, `metasync ${args.join(" ")}:\n${child.output()}`).toBe(0);
      return child.output();
    },
    async run(system, profile) {
      const result = await services.startGate.start({ systemName: system, profile, trigger: "MANUAL" });
      expect(result.outcome, `${system} ${profile}: ${result.failure?.reasonCode}: ${result.failure?.reason}`).toBe("ACCEPTED");
      const run = await waitForStatus(services, result.run.id, ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"], 60_000);
      if (run.status !== "COMPLETED") {
        const failures = await services.db.prisma.runChange.findMany({
          where: { runId: run.id, errorCode: { not: null } },
          take: 5,
        });
        const why = failures.map((f) => `${f.changeType} ${f.anchor ?? ""} ${f.errorCode}: ${f.message}`).join("; ");
        expect(`${system} ${profile}: ${run.status} ${run.error ?? ""} ${why}`).toBe(`${system} ${profile}: COMPLETED`);
      }
      return run;
    },
    async stopWorker() {
      await worker?.stop();
      worker = null;
    },
    async startWorker() {
      worker ??= await startWorker({ services, executors: defaultExecutors, scheduler: false, watchers: options.watchers });
    },
    async stop() {
      await worker?.stop();
      await closeTestServices(services);
    },
  };
}
