import type pg from "pg";
import { pruneApplied } from "../engine/realtime/inbox-store.ts";
import type { Logger } from "../logger.ts";

/** Advisory lock of housekeeping (session level): one worker prunes at a time. */
const HOUSEKEEPING_LOCK: [number, number] = [0x6d73, -2];
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Rows one statement deletes: short transactions, however much has piled up. */
const CHUNK = 10_000;

export interface HousekeepingOptions {
  /** Applied inbox entries are kept this long: a push repeated with the same `id` within it is still applied once. */
  inboxKeepMs: number;
  /** Alerts (with their deliveries and attempts) are kept this long once every delivery has ended. */
  alertKeepMs: number;
  /** How often a worker prunes. */
  intervalMs: number;
}

/** METASYNC_INBOX_RETENTION_HOURS (default 168, a week) and METASYNC_ALERT_RETENTION_DAYS (default 30). */
export function housekeepingOptions(env: NodeJS.ProcessEnv = process.env): HousekeepingOptions {
  const positive = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    inboxKeepMs: positive("METASYNC_INBOX_RETENTION_HOURS", 168) * HOUR_MS,
    alertKeepMs: positive("METASYNC_ALERT_RETENTION_DAYS", 30) * DAY_MS,
    intervalMs: 10 * 60_000,
  };
}

export interface PruneCounts {
  inboxEntries: number;
  alerts: number;
}

/**
 * One pass, in whichever worker holds the lock (another worker's pass returns null at once):
 * applied inbox entries past their retention, and alerts past theirs whose deliveries all ended.
 * Run history (runs, their changes and events) is not pruned: it is the audit trail.
 */
export async function pruneOnce(
  pool: pg.Pool,
  options: Pick<HousekeepingOptions, "inboxKeepMs" | "alertKeepMs">,
): Promise<PruneCounts | null> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ leader: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS leader", HOUSEKEEPING_LOCK);
    if (!rows[0]?.leader) return null;
    try {
      const counts: PruneCounts = { inboxEntries: 0, alerts: 0 };
      for (let n = CHUNK; n === CHUNK; ) counts.inboxEntries += n = await pruneApplied(client, options.inboxKeepMs, CHUNK);
      for (let n = CHUNK; n === CHUNK; ) counts.alerts += n = await pruneAlerts(client, options.alertKeepMs, CHUNK);
      return counts;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1, $2)", HOUSEKEEPING_LOCK);
    }
  } finally {
    client.release();
  }
}

async function pruneAlerts(client: pg.PoolClient, keepMs: number, limit: number): Promise<number> {
  // Deliveries and their attempts go with their alert (ON DELETE CASCADE).
  const { rowCount } = await client.query(
    `DELETE FROM alert WHERE id IN (
       SELECT a.id FROM alert a
        WHERE a.created_at < now() - make_interval(secs => $1::float8 / 1000)
          AND NOT EXISTS (SELECT 1 FROM alert_delivery d WHERE d.alert_id = a.id AND d.finished_at IS NULL)
        LIMIT $2)`,
    [keepMs, limit],
  );
  return rowCount ?? 0;
}

/** Prunes at start and every `intervalMs`; stop() waits for a pass in progress. */
export function startHousekeeping(deps: { pool: pg.Pool; logger: Logger }, options: HousekeepingOptions) {
  const log = deps.logger.child({ component: "housekeeping" });
  let running: Promise<void> | null = null;
  const pass = () => {
    if (running) return;
    running = pruneOnce(deps.pool, options)
      .then((counts) => {
        if (counts && (counts.inboxEntries || counts.alerts)) log.info(counts, "pruned past their retention");
      })
      .catch((err) => log.warn({ err }, "housekeeping pass failed"))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(pass, options.intervalMs);
  timer.unref();
  pass();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
