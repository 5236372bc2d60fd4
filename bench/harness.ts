// What every benchmark needs: a private embedded PostgreSQL in a temp dir, migrated, and the
// product's services over it. close() stops and removes everything.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Config } from "../src/config.ts";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";
import { migrate } from "../src/db/migrate.ts";
import { connectDatabase } from "../src/db.ts";
import { createEventBus } from "../src/events/bus.ts";
import { createLogger } from "../src/logger.ts";
import { createSecretBox } from "../src/secrets.ts";
import { createServices, type Services } from "../src/services.ts";

export interface BenchHarness {
  services: Services;
  dir: string;
  close(): Promise<void>;
}

export async function openBenchServices(overrides: Partial<Config> = {}): Promise<BenchHarness> {
  const dir = mkdtempSync(path.join(tmpdir(), "metasync-bench-"));
  chmodSync(dir, 0o755); // as root PostgreSQL runs as "postgres", which must enter the directory
  const pg = await startEmbeddedPostgres(path.join(dir, "pg"), "bench");
  try {
    await migrate(pg.url);
  } catch (error) {
    // A failed migration must not leave the cluster running either (see `stop` below).
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const db = connectDatabase(pg.url);
  const config: Config = {
    databaseUrl: pg.url,
    host: "127.0.0.1",
    port: 0,
    dataDir: dir,
    logLevel: "silent",
    production: false,
    secretKey: undefined,
    // Benchmark CSV files live in temp dirs.
    fileRoots: [tmpdir()],
    ...overrides,
  };
  const bus = await createEventBus(db.pool);
  const services = createServices({
    config,
    db,
    bus,
    logger: createLogger(config),
    secrets: createSecretBox(config.secretKey ? Buffer.from(config.secretKey, "hex") : randomBytes(32)),
  });
  const close = async () => {
    await services.queue.stop().catch(() => {});
    await services.runFeed.close();
    await bus.close();
    await db.close();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  // A benchmark stopped early (Ctrl-C, a timeout) must not leave its PostgreSQL running: idle
  // clusters left behind by killed runs (autovacuum after a 100,000-row load) slowed later runs.
  const stop = () => void close().finally(() => process.exit(130));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return { services, dir, close };
}
