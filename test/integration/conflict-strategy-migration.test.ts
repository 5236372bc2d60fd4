import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db.ts";
import { createTestDatabase } from "../helpers/database.ts";

const MIGRATION = "prisma/migrations/20261205221555_conflict_strategy_enum/migration.sql";

let db: Database;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.close());

describe("migration conflict_strategy TEXT -> enum", () => {
  it("keeps every strategy of the set, turns a value outside it into NULL (what the engine ran it as: precedence)", async () => {
    // Back to the column as it was before the migration, with rows written then.
    await db.pool.query(`ALTER TABLE sync_rule ALTER COLUMN conflict_strategy TYPE text`);
    await db.pool.query(`DROP TYPE conflict_strategy`);
    const {
      rows: [system],
    } = await db.pool.query<{ id: string }>(
      `INSERT INTO connected_system (id, name, kind, updated_at) VALUES (gen_random_uuid(), 'hr', 'CSV', now()) RETURNING id`,
    );
    const values = ["newest_wins", "source_wins", "target_wins", "precedence", "manual", "first_wins", null];
    for (const [i, value] of values.entries())
      await db.pool.query(
        `INSERT INTO sync_rule (id, name, connected_system_id, direction, object_type, metaverse_object_type, conflict_strategy, updated_at)
         VALUES (gen_random_uuid(), $1, $2, 'INBOUND', 'person', 'person', $3, now())`,
        [`rule-${i}`, system!.id, value],
      );

    // As the migration runner does: one statement per semicolon.
    for (const statement of readFileSync(MIGRATION, "utf8").split(";"))
      if (statement.replace(/--.*$/gm, "").trim()) await db.pool.query(statement);

    const { rows } = await db.pool.query(
      `SELECT name, conflict_strategy, pg_typeof(conflict_strategy)::text AS type FROM sync_rule ORDER BY name`,
    );
    expect(rows.map((r) => r.conflict_strategy)).toEqual([
      "newest_wins",
      "source_wins",
      "target_wins",
      "precedence",
      "manual",
      null,
      null,
    ]);
    expect(new Set(rows.map((r) => r.type))).toEqual(new Set(["conflict_strategy"]));
  });
});
