import pg from "pg";
import { describe, expect, it } from "vitest";
import { migrate } from "../../src/db/migrate.ts";
import { createTestDatabaseUrl } from "../helpers/database.ts";

/** A migration whose effect the test can undo by hand: one index replaced by another. */
const latest = "20261207043000_cso_identity_system_index";

describe("migrate", () => {
  it("leaves an up-to-date database alone, and applies a migration it lacks", async () => {
    const url = await createTestDatabaseUrl();
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const applied = async () =>
        (await db.query("SELECT migration_name FROM _prisma_migrations ORDER BY migration_name")).rows.map(
          (r) => r.migration_name,
        );
      const before = await applied();
      expect(before).toContain(latest);
      await migrate(url);
      expect(await applied()).toEqual(before);

      // That migration undone by hand: its index gone and its record with it.
      await db.query("DROP INDEX connector_space_object_identity_system_idx");
      await db.query(
        "CREATE INDEX connector_space_object_metaverse_object_id_idx ON connector_space_object (metaverse_object_id) WHERE metaverse_object_id IS NOT NULL",
      );
      await db.query("DELETE FROM _prisma_migrations WHERE migration_name = $1", [latest]);
      await migrate(url);
      expect(await applied()).toEqual(before);
      const { rows } = await db.query(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'connector_space_object' AND indexname LIKE '%identity_system%'",
      );
      expect(rows).toEqual([{ indexname: "connector_space_object_identity_system_idx" }]);
    } finally {
      await db.end();
    }
  });
});
