import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COALESCE_MS } from "../../../src/jobs/run-stream.ts";
import { startWorker } from "../../../src/jobs/worker.ts";
import { createReadySystem, itemExecutor, rawId, spawnWorkerProcess, startRunsApp } from "../../fixtures/runs.ts";
import type { TestApp } from "../../helpers/app.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startRunsApp();
});
afterAll(() => app?.stop());

const START = `mutation ($id: ID!, $profile: RunProfile!) { startRun(input: { connectedSystemId: $id, profile: $profile }) { outcome run { id } } }`;
const PROGRESS = `subscription ($id: ID!) {
  runProgress(runId: $id) { id status progress { phase processed total percent batch } counts { fetched created failed } }
}`;

interface ProgressMessage {
  runProgress: {
    id: string;
    status: string;
    progress: { phase: string; processed: number; total: number | null; percent: number | null; batch: number };
    counts: { fetched: number; created: number; failed: number };
  };
}

async function collect(runId: string) {
  const client = app.ws();
  const messages: { at: number; data: ProgressMessage["runProgress"] }[] = [];
  const iterator = client.iterate<ProgressMessage>({ query: PROGRESS, variables: { id: runId } });
  const done = (async () => {
    for await (const m of iterator) {
      if (m.errors) throw new Error(JSON.stringify(m.errors));
      messages.push({ at: Date.now(), data: m.data!.runProgress });
    }
  })();
  return { messages, done };
}

describe("live progress", () => {
  it("a subscriber sees every batch and the final status of a run executed by a worker in another process", async () => {
    const system = await createReadySystem(app.services, "hr-live");
    const started = await app.gql(START, { id: system.id, profile: "FULL_IMPORT" });
    const runId = started.data.startRun.run.id as string;
    const { messages, done } = await collect(runId);
    // The current state comes first, before any worker exists.
    await expect.poll(() => messages.length).toBe(1);
    expect(messages[0]!.data.status).toBe("QUEUED");
    const worker = await spawnWorkerProcess(app.services.db.url, { total: 12, batchSize: 3, delayMs: 300 });
    try {
      await done; // completes by itself after the final status
    } finally {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
    const batches = messages.map((m) => m.data.progress.batch);
    for (const b of [1, 2, 3, 4]) expect(batches, `batch ${b} seen`).toContain(b);
    const last = messages.at(-1)!.data;
    expect(last).toMatchObject({ status: "COMPLETED", counts: { fetched: 12, created: 12, failed: 0 } });
    expect(last.progress).toMatchObject({ processed: 12, total: 12, percent: 100, batch: 4 });
    expect(messages.some((m) => m.data.status === "RUNNING")).toBe(true);
    expect(messages.filter((m) => m.data.status === "COMPLETED")).toHaveLength(1);
  });

  it("coalesces a fast run to at most one message per window (~10/s) and still delivers the final status", async () => {
    const worker = await startWorker({
      services: app.services,
      executors: { "connector.full_import": itemExecutor({ total: 200, batchSize: 2, delayMs: 5 }) },
      scheduler: false,
    });
    try {
      const system = await createReadySystem(app.services, "hr-fast");
      const started = await app.gql(START, { id: system.id, profile: "FULL_IMPORT" });
      const runId = started.data.startRun.run.id as string;
      const { messages, done } = await collect(runId);
      await done;
      const spanMs = messages.at(-1)!.at - messages[0]!.at;
      const run = await app.services.db.prisma.run.findUniqueOrThrow({ where: { id: rawId(runId) } });
      expect(run.batch).toBe(100);
      console.log(`coalescing: ${run.batch} batches -> ${messages.length} messages over ${spanMs} ms`);
      // One per window, plus the first message and timer slack.
      expect(messages.length).toBeLessThanOrEqual(Math.ceil(spanMs / COALESCE_MS) + 3);
      expect(messages.length).toBeLessThan(run.batch);
      expect(messages.at(-1)!.data.status).toBe("COMPLETED");
      expect(messages.at(-1)!.data.counts.created).toBe(200);
    } finally {
      await worker.stop();
    }
  });

  it("refuses runProgress for an unknown run with NOT_FOUND", async () => {
    const client = app.ws();
    const iterator = client.iterate({ query: PROGRESS, variables: { id: "00000000-0000-4000-8000-000000000000" } });
    const first = await iterator.next().catch((e: unknown) => ({ value: { errors: e as { extensions?: { code?: string } }[] } }));
    const errors = (first.value as { errors?: { extensions?: { code?: string } }[] }).errors;
    expect(errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("runsChanged pushes the changes of one system's runs, not the others'", async () => {
    const watched = await createReadySystem(app.services, "hr-watched");
    const other = await createReadySystem(app.services, "hr-other", { schema: false });
    const client = app.ws();
    const seen: { id: string; status: string; connectedSystem: { name: string } }[] = [];
    const iterator = client.iterate<{ runsChanged: { id: string; status: string; connectedSystem: { name: string } } }>({
      query: `subscription ($id: ID) { runsChanged(connectedSystemId: $id) { id status connectedSystem { name } } }`,
      variables: { id: watched.id },
    });
    const reader = (async () => {
      for await (const m of iterator) {
        seen.push(m.data!.runsChanged);
        if (m.data!.runsChanged.status === "CANCELLED") break;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await app.gql(START, { id: other.id, profile: "FULL_IMPORT" }); // BLOCKED, another system
    const started = await app.gql(START, { id: watched.id, profile: "FULL_IMPORT" });
    const runId = started.data.startRun.run.id;
    await app.gql(`mutation ($id: ID!) { cancelRun(id: $id) { status } }`, { id: runId });
    await reader;
    expect(seen.every((r) => r.connectedSystem.name === "hr-watched")).toBe(true);
    expect(seen.map((r) => r.status)).toContain("CANCELLED");
    expect(seen.every((r) => r.id === runId)).toBe(true);
  });

  it("lists runs newest first with stable cursors, filters and totalCount, and reports metrics", async () => {
    const system = await createReadySystem(app.services, "hr-list", { schema: false });
    for (let i = 0; i < 5; i++) await app.gql(START, { id: system.id, profile: "FULL_IMPORT" });
    const page = (after?: string) =>
      app.gql(
        `query ($id: ID, $after: String) {
          runs(connectedSystemId: $id, status: [BLOCKED], first: 2, after: $after) {
            totalCount edges { cursor node { id createdAt reasonCode } } pageInfo { hasNextPage endCursor }
          }
        }`,
        { id: system.id, after },
      );
    const first = (await page()).data.runs;
    expect(first.totalCount).toBe(5);
    expect(first.edges).toHaveLength(2);
    const second = (await page(first.pageInfo.endCursor)).data.runs;
    const third = (await page(second.pageInfo.endCursor)).data.runs;
    const all = [...first.edges, ...second.edges, ...third.edges].map((e: { node: { id: string; createdAt: string } }) => e.node);
    expect(new Set(all.map((n) => n.id)).size).toBe(5);
    expect(third.pageInfo.hasNextPage).toBe(false);
    const times = all.map((n) => Date.parse(n.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const one = await app.gql(
      `query ($id: ID!) { run(id: $id) { id status nextSteps changes(first: 5) { totalCount edges { node { id } } } } }`,
      {
        id: all[0]!.id,
      },
    );
    expect(one.data.run).toMatchObject({ status: "BLOCKED", changes: { totalCount: 0, edges: [] } });

    const live = await app.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "hr-live" } });
    const metrics = await app.gql(
      `query ($id: ID) { runMetrics(connectedSystemId: $id) { finished completed successRate averageDurationSeconds throughputPerSecond objectsProcessed } }`,
      { id: live.id },
    );
    const m = metrics.data.runMetrics;
    expect(m).toMatchObject({ finished: 1, completed: 1, successRate: 1, objectsProcessed: 12 });
    expect(m.averageDurationSeconds).toBeGreaterThan(0.9);
    expect(m.throughputPerSecond).toBeGreaterThan(0);
  });
});
