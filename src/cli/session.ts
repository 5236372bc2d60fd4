import type { Config } from "../config.ts";
import { migrate } from "../db/migrate.ts";
import type { Logger } from "../logger.ts";
import { closeRuntime, openRuntime } from "../runtime.ts";
import type { Services } from "../services.ts";

/** Exit codes of every command (printed by `metasync --help`). */
export const EXIT = {
  /** Done; for `run --wait` the run COMPLETED. */
  OK: 0,
  /** What was asked for failed: a run ended otherwise or was blocked, a connection test or discovery failed. */
  FAILED: 1,
  /** Bad usage or input: unknown command, option, system, profile or status. */
  USAGE: 2,
} as const;

/**
 * A command's session on the server's database (the embedded one attached to, or DATABASE_URL).
 * Migrating costs seconds and the server has done it: only a database never migrated gets it here.
 */
export async function withCliServices<T>(config: Config, logger: Logger, use: (services: Services) => Promise<T>): Promise<T> {
  const services = await openRuntime(config, logger);
  try {
    const { rows } = await services.db.pool.query<{ t: string | null }>("SELECT to_regclass('run')::text AS t");
    if (!rows[0]?.t) await migrate(services.db.url);
    return await use(services);
  } finally {
    await closeRuntime(services);
  }
}

/** A command-line mistake: printed with the command's usage, exit 2. */
export class UsageError extends Error {}
