import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxSource } from "../../../src/engine/realtime/inbox-source.ts";
import { pushEntries } from "../../../src/engine/realtime/inbox-store.ts";
import type { RunContext } from "../../../src/engine/run-context.ts";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// Two pushes racing: the one that took the lower id commits after a REALTIME run read past it.
// The run marks applied only what it read, so the late one waits for the next run; a range
// ("everything up to the last id read") marked it applied unread, and it was never applied.
let services: Services;
let late: pg.Client;
beforeAll(async () => {
  services = await createTestServices();
  late = new pg.Client({ connectionString: services.db.url });
  await late.connect();
});
afterAll(async () => {
  await late?.end();
  await closeTestServices(services);
});

const record = (anchor: string) => ({ op: "upsert" as const, objectType: "person", anchor, attributes: { id: anchor } });

describe("inbox: a push committed after a run read past its id", () => {
  it("is left waiting for the next run, not marked applied unread", async () => {
    const system = await services.systems.create({ name: "hr", kind: "CSV", config: { path: "/data/hr.csv", anchor: "id" } });
    const run = await services.db.prisma.run.create({
      data: {
        operation: "connector.realtime",
        profile: "REALTIME",
        connectedSystemId: system.id,
        connectionSettingsId: (await services.systems.currentSettings(system)).id,
        scopeKey: `connector.realtime:${system.id}`,
      },
    });
    // The first push takes its id and holds its transaction open; the second commits at once.
    await late.query("BEGIN");
    const [slow] = await pushEntries(late, system.id, [record("slow")]);
    const [fast] = await pushEntries(services.db.pool, system.id, [record("fast")]);
    expect(Number(slow)).toBeLessThan(Number(fast));

    const ctx = { pool: services.db.pool, system: { id: system.id }, run: { id: run.id } } as unknown as RunContext;
    const source = inboxSource(100);
    const pages = [];
    for await (const page of source.pages(ctx, null)) pages.push(page);
    expect(pages.flatMap((p) => p.objects.map((o) => o.anchor))).toEqual(["fast"]);
    // The slow push commits between the read and the batch that marks what was read.
    await late.query("COMMIT");
    const client = await services.db.pool.connect();
    try {
      for (const page of pages) await source.committed(client, ctx, page);
    } finally {
      client.release();
    }
    const entries = await services.db.pool.query<{ anchor: string; applied: boolean }>(
      "SELECT anchor, applied_at IS NOT NULL AS applied FROM inbox_entry ORDER BY id",
    );
    expect(entries.rows).toEqual([
      { anchor: "slow", applied: false },
      { anchor: "fast", applied: true },
    ]);
  });
});
