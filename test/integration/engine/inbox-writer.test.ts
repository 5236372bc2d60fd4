import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../../src/services.ts";
import { inboxWriter } from "../../../src/systems/inbox-writer.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// Group commit of pushes: pushes that arrive while a statement is in flight are stored together
// in the next one, each still answered with its own ids, a record repeated by a later push of the
// group answered with the earlier one's id, and a push PostgreSQL refuses failing alone.
let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

const record = (anchor: string, extra: Record<string, string> = {}) => ({
  op: "upsert" as const,
  objectType: "person",
  anchor,
  attributes: { id: anchor, ...extra },
});

describe("inbox writer", () => {
  it("stores concurrent pushes in one statement, each answered with its own ids", async () => {
    const hr = await services.systems.create({ name: "hr", kind: "CSV", config: { path: "/data/hr.csv", anchor: "id" } });
    const crm = await services.systems.create({ name: "crm", kind: "CSV", config: { path: "/data/crm.csv", anchor: "id" } });
    // The real pool, its statements counted.
    let statements = 0;
    const pool = services.db.pool;
    const write = inboxWriter(
      {
        query: ((...args: Parameters<typeof pool.query>) => {
          statements++;
          return pool.query(...args);
        }) as typeof pool.query,
      },
      1,
    );
    const pushes = [
      write(hr.id, [record("A0")]), // alone: nothing was in flight
      ...Array.from({ length: 10 }, (_, i) => write(hr.id, [record(`A${i + 1}`), record(`B${i + 1}`)])),
      write(crm.id, [record("A1")]), // same content, another system: its own entry
      write(hr.id, [record("A1")]), // a repeat of a record earlier in the same group
    ];
    const answers = await Promise.all(pushes);
    expect(statements).toBe(2);

    const { rows } = await pool.query<{ id: string; system: string; anchor: string }>(
      "SELECT id::text, connected_system_id AS system, anchor FROM inbox_entry ORDER BY id",
    );
    const entry = new Map(rows.map((r) => [r.id, r]));
    expect(rows).toHaveLength(22); // the repeat is not stored again
    expect(answers[0]!.map((id) => entry.get(id)?.anchor)).toEqual(["A0"]);
    for (let i = 1; i <= 10; i++) {
      expect(answers[i]!.map((id) => entry.get(id))).toEqual([
        { id: answers[i]![0], system: hr.id, anchor: `A${i}` },
        { id: answers[i]![1], system: hr.id, anchor: `B${i}` },
      ]);
    }
    expect(entry.get(answers[11]![0]!)).toMatchObject({ system: crm.id, anchor: "A1" });
    expect(answers[12]).toEqual([answers[1]![0]]);
    // Ids follow arrival: the group's rows in the order its pushes came.
    expect(answers.slice(1, 12).flat().map(Number)).toEqual([...answers.slice(1, 12).flat()].map(Number).sort((a, b) => a - b));
  });

  it("fails only the push PostgreSQL refuses; the others of its group are stored", async () => {
    const { rows: before } = await services.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM inbox_entry");
    const system = await services.systems.create({ name: "hr2", kind: "CSV", config: { path: "/data/hr2.csv", anchor: "id" } });
    const write = inboxWriter(services.db.pool, 1);
    const results = await Promise.allSettled([
      write(system.id, [record("first")]),
      write(system.id, [record("good-1")]),
      // jsonb has no NUL character: the whole statement fails.
      write(system.id, [record("bad", { note: "a\u0000b" })]),
      write(system.id, [record("good-2")]),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    const { rows } = await services.db.pool.query<{ anchor: string }>(
      "SELECT anchor FROM inbox_entry WHERE connected_system_id = $1 ORDER BY id",
      [system.id],
    );
    expect(rows.map((r) => r.anchor)).toEqual(["first", "good-1", "good-2"]);
    const { rows: after } = await services.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM inbox_entry");
    expect(after[0]!.n).toBe(before[0]!.n + 3);
  });
});
