import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { PgBoss } from "pg-boss";
import type { EventBus } from "../events/bus.ts";
import type { AlertEvent } from "../generated/prisma/enums.ts";
import { bossDb, type RunQueue } from "../jobs/queue.ts";
import type { Logger } from "../logger.ts";
import { ALERT_QUEUE, ALERTS_TOPIC, HOLD_EVENTS, THRESHOLD_APPROVAL_REASON } from "./events.ts";
import type { AlertOptions } from "./options.ts";
import { type AlertFacts, alertsOfRun, type RunFacts, staleRunAlert } from "./run-alerts.ts";

/** What the delivery job carries: the delivery row, which names the alert and the endpoint. */
export interface AlertJobData {
  deliveryId: string;
}

/** Bus payload of ALERTS_TOPIC. */
export interface AlertRaisedPayload extends Record<string, unknown> {
  alertId: string;
  event: AlertEvent;
  connectedSystemId: string | null;
}

type Tx = Pick<pg.PoolClient, "query">;

/**
 * Raises alerts inside the transaction that changes the run (its final status, a recovery), so
 * an alert exists exactly when that change commits: the alert row, one delivery row per
 * subscribed endpoint and its pg-boss job, and the bus message for `alerts` subscribers.
 * Nothing is sent here: delivery is a job on its own queue, so a slow or failing endpoint never
 * delays a run. Under a savepoint: an alert that cannot be recorded is logged and dropped, it
 * never undoes the run's own write.
 */
export class AlertRaiser {
  private queueReady: Promise<PgBoss> | null = null;

  constructor(private readonly deps: { queue: RunQueue; bus: EventBus; logger: Logger; options: AlertOptions }) {}

  /** pg-boss with the alert queue created (idempotent, once per process). */
  ready(): Promise<PgBoss> {
    this.queueReady ??= (async () => {
      const boss = await this.deps.queue.start();
      await boss.createQueue(ALERT_QUEUE, this.jobOptions()).catch(async (e) => {
        if (!(await boss.getQueue(ALERT_QUEUE))) throw e;
      });
      return boss;
    })().catch((e) => {
      this.queueReady = null;
      throw e;
    });
    return this.queueReady;
  }

  /**
   * Retry policy, on each job rather than only on the queue: the queue keeps the options of
   * whichever process created it first, a job those of the process that raised it.
   */
  private jobOptions() {
    const o = this.deps.options;
    return {
      retryLimit: o.retryLimit,
      retryDelay: o.retryDelaySeconds,
      retryBackoff: true,
      retryDelayMax: o.retryDelayMaxSeconds,
      // An attempt is bounded by its HTTP timeout; a job active far longer was lost with its worker.
      expireInSeconds: Math.max(30, Math.ceil((o.timeoutMs * 3) / 1000)),
    };
  }

  /** A run reached a final status (FAILED, PARTIAL, BLOCKED, ...): the alerts it raises, if any. */
  async forRunEnd(tx: Tx, runId: string): Promise<void> {
    await this.guarded(tx, runId, async () => {
      const facts = await readRunFacts(tx, runId);
      if (facts) await this.insert(tx, alertsOfRun(facts));
    });
  }

  /** Recovery found the run's worker silent (stale heartbeat) and hands the run on. */
  async forStaleRun(tx: Tx, runId: string, stale: { attempt: number; workerId: string | null }): Promise<void> {
    await this.guarded(tx, runId, async () => {
      const facts = await readRunFacts(tx, runId);
      if (facts) await this.insert(tx, [staleRunAlert(facts, stale)]);
    });
  }

  /** Alerts built elsewhere (e.g. inboxAgeAlert), raised the same way, inside `tx`. */
  async raise(tx: Tx, alerts: AlertFacts[]): Promise<void> {
    await this.guarded(tx, alerts[0]?.runId ?? null, () => this.insert(tx, alerts));
  }

  private async guarded(tx: Tx, runId: string | null, work: () => Promise<void>) {
    try {
      await this.ready();
    } catch (err) {
      this.deps.logger.warn({ err, runId }, "alert queue unavailable; alert not raised");
      return;
    }
    await tx.query("SAVEPOINT metasync_alerts");
    try {
      await work();
      await tx.query("RELEASE SAVEPOINT metasync_alerts");
    } catch (err) {
      await tx.query("ROLLBACK TO SAVEPOINT metasync_alerts");
      this.deps.logger.warn({ err, runId }, "alert not raised");
    }
  }

  private async insert(tx: Tx, alerts: AlertFacts[]) {
    const boss = await this.ready();
    for (const alert of alerts) {
      const id = randomUUID();
      const payload = { id, event: alert.event, occurredAt: new Date().toISOString(), ...alert.document };
      const inserted = await tx.query(
        `INSERT INTO alert (id, event, dedupe_key, run_id, connected_system_id, payload)
         VALUES ($1, $2::alert_event, $3, $4, $5, $6::jsonb) ON CONFLICT (dedupe_key) DO NOTHING`,
        [id, alert.event, alert.dedupeKey, alert.runId, alert.connectedSystemId, JSON.stringify(payload)],
      );
      if (!inserted.rowCount) continue; // raised before (the same run finished twice): once is enough
      const { rows } = await tx.query<{ id: string }>(
        `INSERT INTO alert_delivery (alert_id, endpoint_id, endpoint_name, url)
         SELECT $1, e.id, e.name, e.url FROM alert_endpoint e WHERE e.enabled AND $2::alert_event = ANY(e.events)
         RETURNING id`,
        [id, alert.event],
      );
      for (const delivery of rows) {
        const data: AlertJobData = { deliveryId: delivery.id };
        await boss.send(ALERT_QUEUE, data as unknown as object, { ...this.jobOptions(), id: delivery.id, db: bossDb(tx) });
      }
      const message: AlertRaisedPayload = { alertId: id, event: alert.event, connectedSystemId: alert.connectedSystemId };
      await this.deps.bus.publish(ALERTS_TOPIC, message, tx);
    }
  }
}

/** Run timestamps are UTC wall times (timestamp without time zone, as Prisma writes them): ISO text, whatever the process's TZ. */
const utc = (column: string) => `to_char(${column}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

async function readRunFacts(tx: Tx, runId: string): Promise<RunFacts | null> {
  const { rows } = await tx.query<RunFacts>(
    `SELECT r.id, r.operation, r.profile::text AS profile, r.status::text AS status, r.dry_run AS "dryRun", r.trigger,
            r.reason_code AS "reasonCode", r.reason, r.error, r.connected_system_id AS "connectedSystemId",
            cs.name AS "systemName", r.attempt, ${utc("r.created_at")} AS "createdAt", ${utc("r.started_at")} AS "startedAt",
            ${utc("r.finished_at")} AS "finishedAt",
            json_build_object('fetched', r.fetched, 'created', r.created, 'updated', r.updated, 'deleted', r.deleted,
              'unchanged', r.unchanged, 'failed', r.failed, 'exportsQueued', r.exports_queued) AS counts,
            coalesce((SELECT json_agg(json_build_object('type', e.type, 'data', e.data) ORDER BY e.id)
                        FROM run_event e WHERE e.run_id = r.id AND e.type = ANY($2::text[])), '[]') AS holds,
            (SELECT count(*)::int FROM pending_export p WHERE p.export_run_id = r.id AND p.status = 'ERROR') AS "exportErrors",
            coalesce((SELECT json_agg(x) FROM (
               SELECT p.id, p.change_type AS "changeType", p.last_error_code AS "code", p.last_error AS "message"
                 FROM pending_export p WHERE p.export_run_id = r.id AND p.status = 'ERROR' ORDER BY p.id LIMIT 10) x), '[]')
              AS "exportErrorSamples",
            coalesce((SELECT json_agg(x) FROM (
               SELECT p.connected_system_id AS "connectedSystemId", s.name, count(*)::int AS held
                 FROM pending_export p JOIN connected_system s ON s.id = p.connected_system_id
                WHERE p.planning_run_id = r.id AND p.change_type = 'DELETE' AND p.status = 'AWAITING_APPROVAL'
                  AND starts_with(p.approval_reason, $3)
                GROUP BY p.connected_system_id, s.name ORDER BY s.name) x), '[]') AS "plannedHolds"
       FROM run r LEFT JOIN connected_system cs ON cs.id = r.connected_system_id
      WHERE r.id = $1`,
    [runId, Object.keys(HOLD_EVENTS), THRESHOLD_APPROVAL_REASON],
  );
  return rows[0] ?? null;
}
