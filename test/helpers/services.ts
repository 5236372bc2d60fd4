import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Config } from "../../src/config.ts";
import { connectDatabase } from "../../src/db.ts";
import { createEventBus } from "../../src/events/bus.ts";
import { createLogger } from "../../src/logger.ts";
import { createSecretBox } from "../../src/secrets.ts";
import { createServices, type ServiceDeps, type Services } from "../../src/services.ts";
import { createTestDatabase } from "./database.ts";

/** Real services on a test file's own database (or on `databaseUrl`, e.g. a test's private cluster). */
export async function createTestServices(
  overrides: Partial<Config> = {},
  extra: Pick<ServiceDeps, "connectorFactory" | "runOptions" | "alertOptions"> & { databaseUrl?: string } = {},
): Promise<Services> {
  const { databaseUrl, ...deps } = extra;
  const db = databaseUrl ? connectDatabase(databaseUrl) : await createTestDatabase();
  const config: Config = {
    databaseUrl: db.url,
    host: "127.0.0.1",
    port: 0,
    dataDir: mkdtempSync(path.join(tmpdir(), "metasync-data-")),
    logLevel: (process.env.LOG_LEVEL as Config["logLevel"]) ?? "silent",
    production: false,
    secretKey: undefined,
    // Tests start many runs from one address; the limiter has its own test.
    startRunRateLimit: { burst: 1_000_000, perSecond: 1_000_000 },
    // Tests keep their CSV files in temp dirs; systems behind fake connectors name files in /data.
    fileRoots: [tmpdir(), "/data"],
    ...overrides,
  };
  const bus = await createEventBus(db.pool);
  return createServices({
    config,
    db,
    bus,
    logger: createLogger(config),
    secrets: createSecretBox(config.secretKey ? Buffer.from(config.secretKey, "hex") : randomBytes(32)),
    ...deps,
  });
}

export async function closeTestServices(services: Services) {
  await services.queue.stop();
  await services.runFeed.close();
  await services.bus.close();
  await services.db.close();
}
