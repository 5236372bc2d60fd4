import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDatabase } from "../../../src/db.ts";
import { createEventBus } from "../../../src/events/bus.ts";
import { createServices, type Services } from "../../../src/services.ts";
import { createReadySystem, jobCount, okFactory, rawId, startRunsApp } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";

// A start storm: 200 startRun calls from 20 concurrent HTTP clients, split across two API
// servers (each its own pool, event bus and pg-boss) on one database, no worker running.
let first: TestApp;
let second: TestApp;
let secondServices: Services;
beforeAll(async () => {
  first = await startRunsApp();
  const db = connectDatabase(first.services.db.url);
  const bus = await createEventBus(db.pool);
  secondServices = createServices({ ...first.services, db, bus, connectorFactory: okFactory });
  second = await startTestApp(secondServices);
});
afterAll(async () => {
  await second?.stop();
  await secondServices?.queue.stop();
  await secondServices?.bus.close();
  await secondServices?.db.close();
  await first?.stop();
});

const START = `mutation ($id: ID!) { startRun(input: { connectedSystemId: $id, profile: FULL_IMPORT }) { outcome run { id } } }`;

describe("start storm across two API servers", () => {
  it("admits exactly one run per system and answers every other call DEDUPED with it, with one job per run", async () => {
    const systems = await Promise.all(
      ["storm-a", "storm-b", "storm-c", "storm-d", "storm-e"].map((n) => createReadySystem(first.services, n)),
    );
    const answers: { system: string; outcome: string; runId: string }[] = [];
    const client = async (c: number) => {
      const app = c % 2 ? second : first;
      for (let k = 0; k < 10; k++) {
        const system = systems[(c + k) % systems.length]!.id;
        const r = await app.gql(START, { id: system });
        expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
        answers.push({ system, outcome: r.data.startRun.outcome, runId: rawId(r.data.startRun.run.id) });
      }
    };
    await Promise.all(Array.from({ length: 20 }, (_, c) => client(c)));

    expect(answers).toHaveLength(200);
    const accepted = answers.filter((a) => a.outcome === "ACCEPTED");
    expect(accepted.map((a) => a.system).sort()).toEqual(systems.map((s) => s.id).sort());
    const winner = new Map(accepted.map((a) => [a.system, a.runId]));
    for (const a of answers) {
      expect(["ACCEPTED", "DEDUPED"]).toContain(a.outcome);
      expect(a.runId).toBe(winner.get(a.system));
    }
    // No run row and no job beyond the five admitted: nothing orphaned for a worker to find.
    const ids = systems.map((s) => s.id);
    expect(await first.services.db.prisma.run.count({ where: { connectedSystemId: { in: ids } } })).toBe(5);
    expect(await jobCount(first.services, [...winner.values()])).toBe(5);
    expect(await jobCount(first.services)).toBe(5);
  });
});
