import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../../src/db/embedded-postgres.ts";
import { migrate } from "../../src/db/migrate.ts";

export const TEMPLATE_DB = "metasync_template";

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin connection string of the test run's PostgreSQL (database "postgres"). */
    pgAdminUrl: string;
  }
}

/**
 * One embedded PostgreSQL per test run (in a temp dir, on a free port) with a migrated
 * template database; each test file clones its own database from it (test/helpers/database.ts).
 */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(tmpdir(), "metasync-test-"));
  // As root PostgreSQL runs as user "postgres", which must be able to enter the directory.
  chmodSync(dir, 0o755);
  const server = await startEmbeddedPostgres(path.join(dir, "pg"), TEMPLATE_DB);
  await migrate(server.url);
  // A template must have no open connections when cloned.
  const admin = new pg.Client({ connectionString: server.url.replace(`/${TEMPLATE_DB}`, "/postgres") });
  await admin.connect();
  await admin.query(`ALTER DATABASE ${TEMPLATE_DB} WITH IS_TEMPLATE true`);
  await admin.end();
  project.provide("pgAdminUrl", server.url.replace(`/${TEMPLATE_DB}`, "/postgres"));
  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
