import path from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import type { Config } from "./config.ts";
import { startEmbeddedPostgres } from "./db/embedded-postgres.ts";
import { PrismaClient } from "./generated/prisma/client.ts";

export { PrismaClient };

/**
 * One pg pool shared by Prisma (API, configuration) and the engine's bulk SQL.
 * `queries` counts Prisma statements (N+1 checks in tests).
 */
export interface Database {
  url: string;
  prisma: PrismaClient;
  pool: pg.Pool;
  onQuery(listener: (sql: string) => void): () => void;
  close(): Promise<void>;
}

export function connectDatabase(url: string, options: { max?: number; onClose?: () => Promise<void> } = {}): Database {
  // random_page_cost 1.1 (the default 4 models spinning disks): with it the planner probes
  // indexes for the engine's `JOIN unnest($n::...[])` batches of 1,000-5,000 keys instead of
  // hashing a sequential scan of the whole table (measured at 100k objects: 9 ms against 157 ms
  // per key lookup, 27 ms against 77 ms per 1,000-row join update).
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, options: "-c random_page_cost=1.1" });
  // An idle client that loses its server (restart) must not crash the process.
  pool.on("error", () => {});
  // Nor one that is checked out: pg-pool listens for errors only while a client is idle, and a
  // connection that ends between two statements of a transaction (a batch waiting on its
  // connector when PostgreSQL restarts) emits 'error' with no listener, which kills the worker.
  // Its holder sees the failure on its next statement and releases it.
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool),
    log: [{ emit: "event", level: "query" }],
  });
  const listeners = new Set<(sql: string) => void>();
  prisma.$on("query", (e) => {
    for (const l of listeners) l(e.query);
  });
  let closed = false;
  return {
    url,
    prisma,
    pool,
    onQuery(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect();
      await pool.end();
      await options.onClose?.();
    },
  };
}

/**
 * The database named by DATABASE_URL, or the embedded PostgreSQL under DATA_DIR/pg
 * (started, or attached to when another Metasync process already runs it).
 */
export async function openDatabase(config: Pick<Config, "databaseUrl" | "dataDir" | "poolSize">): Promise<Database> {
  if (config.databaseUrl) {
    const db = connectDatabase(config.databaseUrl, { max: config.poolSize });
    await assertReachable(db, config.databaseUrl);
    return db;
  }
  const embedded = await startEmbeddedPostgres(path.join(config.dataDir, "pg"), "metasync");
  return connectDatabase(embedded.url, { max: config.poolSize, onClose: () => embedded.stop() });
}

async function assertReachable(db: Database, url: string) {
  try {
    await db.pool.query("SELECT 1");
  } catch (e) {
    await db.close().catch(() => {});
    const where = url.replace(/\/\/[^@]*@/, "//");
    throw new Error(`cannot reach the database at ${where}: ${(e as Error).message}`);
  }
}
