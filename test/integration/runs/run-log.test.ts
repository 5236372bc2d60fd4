import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker } from "../../../src/jobs/worker.ts";
import { rawId, waitForStatus } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";

// A real CSV full import run by a real worker whose logger writes into this test: an operator
// reading the worker's log sees one line when a run starts and one when it ends.

let app: TestApp;
let dir: string;
beforeAll(async () => {
  app = await startTestApp();
  dir = mkdtempSync(path.join(tmpdir(), "metasync-run-log-"));
});
afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("run log lines", () => {
  it("logs one info line at a run's start and one at its finish, with run id, system, profile, status, counts and duration", async () => {
    const file = path.join(dir, "hr.csv");
    writeFileSync(file, "id,name\n1,Ada\n2,Grace\n3,Edsger\n");
    const created = await app.gql(
      `mutation ($c: JSON!) { createConnectedSystem(input: { name: "hr-log", kind: CSV, config: $c }) { id } }`,
      {
        c: { path: file, anchor: "id" },
      },
    );
    expect(created.errors).toBeUndefined();
    const discovered = await app.gql(`mutation ($id: ID!) { refreshSchema(id: $id) { id } }`, {
      id: created.data.createConnectedSystem.id,
    });
    expect(discovered.errors).toBeUndefined();
    const started = await app.gql(
      `mutation ($id: ID!) { startRun(input: { connectedSystemId: $id, profile: FULL_IMPORT }) { outcome run { id } } }`,
      { id: created.data.createConnectedSystem.id },
    );
    expect(started.data.startRun.outcome).toBe("ACCEPTED");
    const runId = rawId(started.data.startRun.run.id);

    const lines: Record<string, any>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const logger = pino({ level: "info" }, sink);
    const worker = await startWorker({ services: { ...app.services, logger }, executors: defaultExecutors, scheduler: false });
    try {
      await waitForStatus(app.services, runId, ["COMPLETED", "PARTIAL", "FAILED"]);
    } finally {
      await worker.stop();
    }
    const ofRun = lines.filter((l) => l.runId === runId && l.level === 30);
    const startLines = ofRun.filter((l) => l.msg === "run started");
    const finishLines = ofRun.filter((l) => l.msg === "run finished");
    expect(startLines).toHaveLength(1);
    expect(finishLines).toHaveLength(1);
    expect(startLines[0]).toMatchObject({
      system: "hr-log",
      profile: "FULL_IMPORT",
      operation: "connector.full_import",
      dryRun: false,
    });
    expect(finishLines[0]).toMatchObject({
      system: "hr-log",
      profile: "FULL_IMPORT",
      status: "COMPLETED",
      counts: { fetched: 3, created: 3, failed: 0 },
    });
    expect(finishLines[0]!.durationMs).toBeGreaterThanOrEqual(0);
  });
});
