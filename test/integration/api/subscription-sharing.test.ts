import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { publishRunChanged } from "../../../src/jobs/progress.ts";
import { createRunningRun } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestServices } from "../../helpers/services.ts";

// Subscription events are executed once per (query, variables, role) and shared between the
// sockets asking that (src/server/shared-subscriptions.ts): many subscribers with mixed queries,
// variables and roles must each get exactly their own answer, and every one the final status.

let app: TestApp;
const keys: Record<string, string> = {};
beforeAll(async () => {
  app = await startTestApp(await createTestServices({ limits: { subscriptionsPerConnection: 100, subscriptionsPerKey: 1000 } }));
  for (const [name, role] of [
    ["admin", "ADMIN"],
    ["reader", "READER"],
    ["reader2", "READER"],
  ] as const)
    keys[name] = (await app.services.apiKeys.create({ role, name })).key;
});
afterAll(() => app?.stop());

const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");

async function runningRun(name: string) {
  const { system, run } = await createRunningRun(app.services, name);
  return { system, run, runGid: globalId("Run", run.id), systemGid: globalId("ConnectedSystem", system.id) };
}

type Row = Record<string, any>;

/** `count` subscriptions of one query on one connection of `key`; each keeps every row it receives. */
function subscribers(key: string, count: number, query: string, variables: Record<string, unknown>) {
  const client = createClient({
    url: app.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
  });
  const received: Row[][] = [];
  const errors: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const rows: Row[] = [];
    received.push(rows);
    client.subscribe<Record<string, Row>>(
      { query, variables },
      {
        next: (m) => {
          if (m.errors) errors.push(m.errors);
          if (m.data) rows.push(Object.values(m.data)[0]!);
        },
        error: (e) => errors.push(e),
        complete: () => {},
      },
    );
  }
  return { client, received, errors };
}

const CHANGED = "subscription ($s: ID) { runsChanged(connectedSystemId: $s) { id status progress { processed } } }";
const CHANGED_OTHER_FIELDS =
  "subscription ($s: ID) { runsChanged(connectedSystemId: $s) { id connectedSystem { name } counts { fetched } } }";
const PROGRESS = "subscription ($id: ID!) { runProgress(runId: $id) { id status progress { processed } } }";

describe("subscribers sharing an event's execution", () => {
  it("each get their own query's answer for their own system, whatever the others asked, and all of them the final status", async () => {
    const a = await runningRun("share-a");
    const b = await runningRun("share-b");
    const groups = {
      adminsOfA: subscribers(keys.admin!, 20, CHANGED, { s: a.systemGid }),
      readersOfA: subscribers(keys.reader!, 10, CHANGED, { s: a.systemGid }),
      otherReadersOfA: subscribers(keys.reader2!, 10, CHANGED, { s: a.systemGid }),
      adminsOfB: subscribers(keys.admin!, 10, CHANGED, { s: b.systemGid }),
      adminsOfAll: subscribers(keys.admin!, 10, CHANGED, {}),
      otherFieldsOfA: subscribers(keys.reader!, 10, CHANGED_OTHER_FIELDS, { s: a.systemGid }),
      progressOfA: subscribers(keys.admin!, 10, PROGRESS, { id: a.runGid }),
    };
    const all = Object.values(groups).flatMap((g) => g.received);
    // Everyone has the runs' current state before anything changes.
    await expect.poll(() => all.every((rows) => rows.length > 0), { timeout: 15_000 }).toBe(true);

    const change = async (r: typeof a, data: { processed: number; fetched: number; status?: "COMPLETED" }) => {
      const run = await app.services.db.prisma.run.update({
        where: { id: r.run.id },
        data: { ...data, ...(data.status ? { finishedAt: new Date() } : {}) },
      });
      await publishRunChanged(app.services.bus, run);
    };
    await change(a, { processed: 10, fetched: 10 });
    await change(b, { processed: 3, fetched: 3 });
    await change(a, { processed: 20, fetched: 20, status: "COMPLETED" });
    await change(b, { processed: 6, fetched: 6, status: "COMPLETED" });

    const finished = (rows: Row[], runGid: string) => rows.some((r) => r.id === runGid && r.status === "COMPLETED");
    const lastOf = (rows: Row[], runGid: string) => rows.filter((r) => r.id === runGid).at(-1);
    await expect
      .poll(
        () =>
          [groups.adminsOfA, groups.readersOfA, groups.otherReadersOfA, groups.progressOfA].every((g) =>
            g.received.every((rows) => finished(rows, a.runGid)),
          ) &&
          groups.adminsOfB.received.every((rows) => finished(rows, b.runGid)) &&
          groups.adminsOfAll.received.every((rows) => finished(rows, a.runGid) && finished(rows, b.runGid)) &&
          groups.otherFieldsOfA.received.every((rows) => lastOf(rows, a.runGid)?.counts.fetched === 20),
        { timeout: 15_000 },
      )
      .toBe(true);

    for (const g of Object.values(groups)) expect(g.errors).toEqual([]);
    // One system's subscribers see only its run, with exactly the fields they asked for.
    for (const g of [groups.adminsOfA, groups.readersOfA, groups.otherReadersOfA, groups.progressOfA])
      for (const rows of g.received) {
        expect(new Set(rows.map((r) => r.id))).toEqual(new Set([a.runGid]));
        for (const r of rows) expect(Object.keys(r).sort()).toEqual(["id", "progress", "status"]);
        expect(rows.at(-1)).toEqual({ id: a.runGid, status: "COMPLETED", progress: { processed: 20 } });
      }
    for (const rows of groups.adminsOfB.received) {
      expect(new Set(rows.map((r) => r.id))).toEqual(new Set([b.runGid]));
      expect(rows.at(-1)).toEqual({ id: b.runGid, status: "COMPLETED", progress: { processed: 6 } });
    }
    for (const rows of groups.adminsOfAll.received) {
      expect(lastOf(rows, a.runGid)).toEqual({ id: a.runGid, status: "COMPLETED", progress: { processed: 20 } });
      expect(lastOf(rows, b.runGid)).toEqual({ id: b.runGid, status: "COMPLETED", progress: { processed: 6 } });
    }
    for (const rows of groups.otherFieldsOfA.received) {
      expect(new Set(rows.map((r) => r.id))).toEqual(new Set([a.runGid]));
      for (const r of rows) expect(Object.keys(r).sort()).toEqual(["connectedSystem", "counts", "id"]);
      expect(rows.at(-1)).toEqual({ id: a.runGid, connectedSystem: { name: "share-a" }, counts: { fetched: 20 } });
    }
    await Promise.all(Object.values(groups).map((g) => g.client.dispose()));
  });
});
