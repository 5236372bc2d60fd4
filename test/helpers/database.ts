import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { connectDatabase, type Database } from "../../src/db.ts";

const TEMPLATE_DB = "metasync_template";

/** A fresh, migrated database for one test file (cloned from the run's template: ~50 ms). */
export async function createTestDatabaseUrl(): Promise<string> {
  const adminUrl = inject("pgAdminUrl");
  const name = `test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  return adminUrl.replace(/\/postgres$/, `/${name}`);
}

export async function createTestDatabase(options: { max?: number } = {}): Promise<Database> {
  return connectDatabase(await createTestDatabaseUrl(), options);
}
