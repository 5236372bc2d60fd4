import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OperationExecutor } from "../../../src/engine/run-context.ts";
import { startWorker } from "../../../src/jobs/worker.ts";
import type { Services } from "../../../src/services.ts";
import {
  createReadySystem,
  ensureItemTable,
  executorsBySystem,
  FAST_RUN_OPTIONS,
  okFactory,
  waitForStatus,
} from "../../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
beforeAll(async () => {
  // One run at a time: the order in which the worker takes the queued runs is the order they run.
  services = await createTestServices({}, { connectorFactory: okFactory, runOptions: { ...FAST_RUN_OPTIONS, concurrency: 1 } });
  await ensureItemTable(services.db.pool);
});
afterAll(() => closeTestServices(services));

describe("queue priorities", () => {
  it("runs a start a person asked for before the scheduled ones queued earlier, then the scheduled ones in their order", async () => {
    const names = ["nightly-a", "nightly-b", "urgent"];
    const systems = await Promise.all(names.map((n) => createReadySystem(services, n)));
    const order: string[] = [];
    const record: OperationExecutor = async (ctx) => {
      order.push(ctx.system.name);
    };
    const start = (i: number, trigger: "SCHEDULE" | "API" | "MANUAL") =>
      services.startGate.start({ connectedSystemId: systems[i]!.id, profile: "FULL_IMPORT", trigger });
    // Queued while no worker runs: two by the clock first, then one by a person.
    const queued = [await start(0, "SCHEDULE"), await start(1, "SCHEDULE"), await start(2, "API")];
    expect(queued.map((q) => q.outcome)).toEqual(["ACCEPTED", "ACCEPTED", "ACCEPTED"]);

    const worker = await startWorker({
      services,
      executors: executorsBySystem(Object.fromEntries(names.map((n) => [n, record]))),
      scheduler: false,
    });
    try {
      for (const q of queued) await waitForStatus(services, q.run!.id, ["COMPLETED"]);
    } finally {
      await worker.stop();
    }
    expect(order).toEqual(["urgent", "nightly-a", "nightly-b"]);
  });
});
