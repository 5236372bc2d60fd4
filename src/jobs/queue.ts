import type pg from "pg";
import { PgBoss } from "pg-boss";
import type { Logger } from "../logger.ts";
import { RUN_QUEUE } from "./operations.ts";

/**
 * Queue order: a run a person or a script asked for (API, CLI) goes before the ones the clock
 * started (schedules), whatever waited longer; within a priority, first queued first run. A run
 * handed back (worker stopped or lost) keeps its priority. One run is one job whatever its size,
 * so a system with a large backlog holds one worker slot, never the queue.
 */
export function priorityOf(trigger: string): number {
  // A pushed change is someone waiting for access, and its runs are small: they go first.
  if (trigger === "REALTIME") return 20;
  return trigger === "SCHEDULE" ? 0 : 10;
}

/** What a run's job carries: the run and the connection pinned at acceptance. */
export interface RunJobData {
  runId: string;
  connectionSettingsId: string;
  /** A partition of a partitioned run (src/jobs/partitions.ts), not the run itself. */
  partition?: number;
}

type Queryable = Pick<pg.PoolClient, "query">;
type BossDb = { executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> };

/**
 * pg-boss statements on `client`: inside its transaction when it is in one. The result goes back
 * untouched: for a multi-statement query pg returns one result per statement, which pg-boss
 * unwraps itself (it needs every statement's rows, e.g. its advisory lock row).
 */
export const bossDb = (client: Queryable): BossDb => ({
  executeSql: async (text, values) => (await client.query(text, values as unknown[])) as unknown as { rows: unknown[] },
});

/**
 * pg-boss on the process's own pool (no second pool). Jobs are inserted inside the start
 * gate's transaction, so a run row never exists without its job or the reverse. Workers are
 * woken by the event bus (see worker.ts), so pg-boss's own LISTEN connection is not needed.
 */
export class RunQueue {
  private boss: PgBoss | null = null;
  private starting: Promise<PgBoss> | null = null;

  constructor(private readonly deps: { pool: pg.Pool; logger: Logger }) {}

  /** Idempotent: installs pg-boss's schema and the queue on first use. */
  async start(): Promise<PgBoss> {
    if (this.boss) return this.boss;
    this.starting ??= (async () => {
      const boss = new PgBoss({
        db: bossDb(this.deps.pool),
        // Schedules are ours (cron per profile, sequences): pg-boss's cron is not used.
        schedule: false,
      });
      boss.on("error", (err) => this.deps.logger.warn({ err }, "pg-boss error"));
      await boss.start();
      // Our heartbeat and recovery own liveness and retries: pg-boss never retries a run's job,
      // and its expiry (capped at 24 h by pg-boss) only marks the job; the run row decides.
      await boss.createQueue(RUN_QUEUE, { expireInSeconds: 24 * 3600, retryLimit: 0 }).catch(async (e) => {
        if (!(await boss.getQueue(RUN_QUEUE))) throw e;
      });
      this.boss = boss;
      return boss;
    })();
    try {
      return await this.starting;
    } catch (e) {
      this.starting = null;
      throw e;
    }
  }

  /**
   * Insert the job through `client` (the caller's transaction). Workers take jobs by priority
   * (higher first), then in the order they were queued (pg-boss's fetch order).
   */
  async send(client: Queryable, jobId: string, data: RunJobData, priority = 0): Promise<void> {
    const boss = await this.start();
    const id = await boss.send(RUN_QUEUE, data as unknown as object, { id: jobId, db: bossDb(client), priority });
    if (!id) throw new Error(`pg-boss refused job ${jobId}`);
  }

  /** Remove a queued job (or stop tracking an active one) in the caller's transaction. */
  async cancel(client: Queryable, jobId: string): Promise<void> {
    const boss = await this.start();
    await boss.cancel(RUN_QUEUE, jobId, { db: bossDb(client) });
  }

  async stop(): Promise<void> {
    const boss = this.boss;
    this.boss = null;
    this.starting = null;
    if (boss) await boss.stop({ graceful: false, close: false, timeout: 2000 }).catch(() => {});
  }
}
