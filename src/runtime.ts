import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Config } from "./config.ts";
import { migrate } from "./db/migrate.ts";
import { openDatabase } from "./db.ts";
import { createEventBus } from "./events/bus.ts";
import type { Logger } from "./logger.ts";
import { createSecretBox, loadSecretKey } from "./secrets.ts";
import { createServices, type Services } from "./services.ts";

/** Open the database (embedded or DATABASE_URL), apply migrations if asked, wire services. */
export async function openRuntime(config: Config, logger: Logger, options: { migrate?: boolean } = {}): Promise<Services> {
  // The default file root exists from the start: a place to put CSV files (METASYNC_FILE_ROOTS).
  const defaultRoot = path.join(config.dataDir, "files");
  if (config.fileRoots.includes(defaultRoot)) await mkdir(defaultRoot, { recursive: true });
  const db = await openDatabase(config);
  try {
    if (options.migrate) {
      const t0 = performance.now();
      await migrate(db.url);
      logger.debug({ ms: Math.round(performance.now() - t0) }, "migrations applied");
    }
    const bus = await createEventBus(db.pool);
    const secrets = createSecretBox(loadSecretKey(config.secretKey, config.dataDir));
    // Only the settings given: the rest keep the run machinery's defaults.
    const tuning = Object.fromEntries(Object.entries(config.runTuning ?? {}).filter(([, v]) => v !== undefined));
    return createServices({ config, db, bus, logger, secrets, runOptions: tuning });
  } catch (e) {
    await db.close().catch(() => {});
    throw e;
  }
}

export async function closeRuntime(services: Services): Promise<void> {
  await services.queue.stop();
  await services.runFeed.close();
  await services.bus.close().catch(() => {});
  await services.db.close();
}
