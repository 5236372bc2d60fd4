import { setImmediate as nextTurn } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishRunChanged } from "../../../src/jobs/progress.ts";
import { createRunFeed } from "../../../src/jobs/run-stream.ts";
import type { Services } from "../../../src/services.ts";
import { createRunningRun } from "../../fixtures/runs.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

describe("run feed (one process's run subscribers)", () => {
  it("reloads a run once per change for 2,000 subscribers and lets other work run between chunks of them", async () => {
    const run = (await createRunningRun(services, "feed-many")).run;
    const loads: string[] = [];
    const feed = createRunFeed(services.bus, (id) => {
      loads.push(id);
      return services.db.prisma.run.findUnique({ where: { id } });
    });
    const N = 2000;
    const received: number[][] = Array.from({ length: N }, () => []);
    const streams = Array.from({ length: N }, () => feed.run(run.id));
    const readers = streams.map(async (stream, i) => {
      for await (const row of stream) received[i]!.push(row.processed);
    });
    await expect.poll(() => received.every((r) => r.length === 1)).toBe(true); // each got the current state
    expect(loads.length).toBe(N);

    // Work that asks for the event loop while the fan-out is under way: it must get a turn
    // before the last subscriber is served (the fan-out yields between chunks).
    let servedWhenOtherWorkRan = -1;
    const probe = async () => {
      await expect.poll(() => received.some((r) => r.length === 2), { interval: 1 }).toBe(true);
      await nextTurn();
      servedWhenOtherWorkRan = received.filter((r) => r.length === 2).length;
    };
    const probing = probe();
    await services.db.prisma.run.update({ where: { id: run.id }, data: { processed: 10 } });
    await publishRunChanged(services.bus, run);
    await expect.poll(() => received.every((r) => r.length === 2)).toBe(true);
    await probing;
    expect(loads.length).toBe(N + 1); // one reload for everyone
    expect(servedWhenOtherWorkRan).toBeGreaterThan(0);
    expect(servedWhenOtherWorkRan).toBeLessThan(N);

    // The final status reaches every subscriber and ends every stream.
    await services.db.prisma.run.update({ where: { id: run.id }, data: { processed: 20, status: "COMPLETED" } });
    await publishRunChanged(services.bus, { ...run, status: "COMPLETED" });
    await Promise.all(readers);
    expect(received.every((r) => r.at(-1) === 20)).toBe(true);
    expect(loads.length).toBe(N + 2);
    await feed.close();
  });

  it("sends two batches in a row at once, holds the next for the window, and never holds a status change", async () => {
    const run = (await createRunningRun(services, "feed-status")).run;
    // A window no test waits out: a row that arrives came through without it.
    const feed = createRunFeed(services.bus, (id) => services.db.prisma.run.findUnique({ where: { id } }), {
      intervalMs: 3_600_000,
      burst: 2,
    });
    const received: { processed: number; status: string }[] = [];
    const reading = (async () => {
      for await (const row of feed.run(run.id)) received.push({ processed: row.processed, status: row.status });
    })();
    await expect.poll(() => received.length).toBe(1); // the current state
    // Two batches committed close together (as two partitions' often are) both go at once...
    for (const processed of [10, 20, 30]) {
      await services.db.prisma.run.update({ where: { id: run.id }, data: { processed } });
      await publishRunChanged(services.bus, run);
      if (processed < 30) await expect.poll(() => received.at(-1)?.processed).toBe(processed);
    }
    // ...the third waits for the window, unless the status changes: then the row (with the held
    // progress) goes out at once.
    await services.db.prisma.run.update({ where: { id: run.id }, data: { status: "COMPLETED" } });
    await publishRunChanged(services.bus, { ...run, status: "COMPLETED" });
    await expect.poll(() => received.at(-1)?.status).toBe("COMPLETED");
    await reading;
    expect(received.at(-1)).toEqual({ processed: 30, status: "COMPLETED" });
    expect(received.some((r) => r.processed === 30 && r.status === "RUNNING")).toBe(false);
    await feed.close();
  });

  it("gives a busy subscriber only the newest row of each run, never a backlog", async () => {
    const run = (await createRunningRun(services, "feed-slow")).run;
    const feed = createRunFeed(services.bus, (id) => services.db.prisma.run.findUnique({ where: { id } }), { intervalMs: 0 });
    const stream = feed.runs(async () => [run.id], null);
    const first = await stream.next();
    expect(first.value.processed).toBe(0);
    // The subscriber reads nothing while five changes are delivered.
    for (const processed of [1, 2, 3, 4, 5]) {
      await services.db.prisma.run.update({ where: { id: run.id }, data: { processed } });
      await publishRunChanged(services.bus, run);
      await new Promise((r) => setTimeout(r, 30));
    }
    await new Promise((r) => setTimeout(r, 100));
    const seen: number[] = [];
    for (;;) {
      const next = await Promise.race([stream.next(), new Promise<null>((r) => setTimeout(() => r(null), 200))]);
      if (!next) break;
      seen.push(next.value.processed);
    }
    // The row held back while the subscriber was busy (1), then the newest: not 2, 3, 4 in turn.
    expect(seen.at(-1)).toBe(5);
    expect(seen.length).toBeLessThanOrEqual(2);
    await stream.return?.();
    await feed.close();
  });

  it("forgets a subscriber that leaves: the run's later changes are not even loaded", async () => {
    const run = (await createRunningRun(services, "feed-leave")).run;
    const loads: string[] = [];
    const feed = createRunFeed(
      services.bus,
      (id) => {
        loads.push(id);
        return services.db.prisma.run.findUnique({ where: { id } });
      },
      { intervalMs: 0 },
    );
    const stays = feed.run(run.id);
    const leaves = feed.runs(async () => [run.id], null);
    expect((await stays.next()).value.processed).toBe(0);
    expect((await leaves.next()).value.processed).toBe(0);
    const waiting = leaves.next();
    await leaves.return?.();
    expect(await waiting).toEqual({ done: true, value: undefined });

    // One subscriber left: a change is loaded once and reaches the one that stayed.
    await services.db.prisma.run.update({ where: { id: run.id }, data: { processed: 7 } });
    await publishRunChanged(services.bus, run);
    expect((await stays.next()).value.processed).toBe(7);
    const loadsWithOne = loads.length;
    await stays.return?.();

    // Nobody left: the next change is not loaded at all.
    await services.db.prisma.run.update({ where: { id: run.id }, data: { processed: 8 } });
    await publishRunChanged(services.bus, run);
    await new Promise((r) => setTimeout(r, 300));
    expect(loads.length).toBe(loadsWithOne);
    await feed.close();
  });
});
