import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));
const migrationsDir = path.join(projectRoot, "prisma", "migrations");

/**
 * Apply pending migrations with `prisma migrate deploy` (our schema-engine stand-in makes
 * it work offline). Resolves when done; rejects with Prisma's output on failure. A database
 * that already has every migration is left alone: the Prisma CLI process alone cost ~3.5 s of
 * CPU on every start of `serve` (twice: its worker too), `worker`, `apply` and `migrate`.
 */
export async function migrate(databaseUrl: string): Promise<void> {
  if (await upToDate(databaseUrl)) return;
  const prismaCli = createRequire(import.meta.url).resolve("prisma/build/index.js");
  const child = spawn(process.execPath, [prismaCli, "migrate", "deploy"], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: databaseUrl, PRISMA_HIDE_UPDATE_MESSAGE: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`migrations failed (prisma migrate deploy exited ${code}):\n${output.trim()}`);
}

/**
 * Every migration shipped in prisma/migrations is recorded as applied in Prisma's own table, and
 * none is recorded as failed. Anything else (no table yet, a failed or missing migration, an
 * error reading) is Prisma's to apply or to report.
 */
async function upToDate(databaseUrl: string): Promise<boolean> {
  const shipped = readdirSync(migrationsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    const { rows } = await client.query<{ name: string; finished: boolean; rolledBack: boolean }>(
      `SELECT migration_name AS name, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS "rolledBack"
         FROM _prisma_migrations`,
    );
    if (rows.some((r) => !r.finished && !r.rolledBack)) return false;
    const applied = new Set(rows.filter((r) => r.finished && !r.rolledBack).map((r) => r.name));
    return shipped.every((name) => applied.has(name));
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
