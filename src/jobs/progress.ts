import type pg from "pg";
import { busNotification, busNotificationSql, type EventBus } from "../events/bus.ts";

/**
 * Bus topics of the run machinery. Payloads carry ids only: every listener reloads the run
 * row, so what a subscriber sees is always committed state, whoever published it.
 */
export const runTopic = (runId: string) => `run:${runId}`;
export const RUNS_TOPIC = "runs";
/** A job was queued: idle workers fetch at once instead of waiting for their poll. */
export const RUNS_QUEUED_TOPIC = "runs.queued";

export interface RunChangedPayload extends Record<string, unknown> {
  runId: string;
  connectedSystemId: string;
  status: string;
}

/** Publish a run change; with `client` it is delivered when that transaction commits. */
export async function publishRunChanged(
  bus: EventBus,
  run: { id: string; connectedSystemId: string; status: string },
  client?: Pick<pg.PoolClient, "query">,
): Promise<void> {
  const payload = runChangedPayload(run);
  await bus.publish(runTopic(run.id), payload, client);
  await bus.publish(RUNS_TOPIC, payload, client);
}

/** A run change as pg_notify arguments, for a statement that notifies as part of its own work (a batch's record). */
export function runChangedNotifications(run: { id: string; connectedSystemId: string; status: string }) {
  const payload = runChangedPayload(run);
  return [busNotification(runTopic(run.id), payload), busNotification(RUNS_TOPIC, payload)];
}

const runChangedPayload = (run: { id: string; connectedSystemId: string; status: string }): RunChangedPayload => ({
  runId: run.id,
  connectedSystemId: run.connectedSystemId,
  status: run.status,
});

/** Append run events through `client` (inside the caller's transaction when it has one). */
export async function insertRunEvents(
  client: Pick<pg.PoolClient, "query">,
  runId: string,
  events: { type: string; data?: Record<string, unknown> }[],
): Promise<void> {
  if (!events.length) return;
  await client.query(
    `INSERT INTO run_event (run_id, type, data)
     SELECT $1, t, d::jsonb FROM unnest($2::text[], $3::text[]) AS e(t, d)`,
    [runId, events.map((e) => e.type), events.map((e) => JSON.stringify(e.data ?? {}))],
  );
}

/** The result columns runChangedNotifySql adds (void): a caller leaves them out of its row. */
export const RUN_CHANGED_NOTIFIED = ["run_notified", "runs_notified"] as const;

/**
 * A run change as SQL pg_notify calls (select-list items), from SQL expressions of the run's id, system and status
 * (e.g. a RETURNING row's columns): the messages publishRunChanged sends, built by the statement
 * that changes the run.
 */
export function runChangedNotifySql(run: { id: string; connectedSystemId: string; status: string }): string {
  const payload = `json_build_object('runId', ${run.id}, 'connectedSystemId', ${run.connectedSystemId}, 'status', ${run.status})`;
  return [`'${runTopic("")}' || ${run.id}`, `'${RUNS_TOPIC}'`]
    .map((topic) => busNotificationSql(topic, payload))
    .map((n, i) => `pg_notify(${n.channel}, ${n.message}) AS ${RUN_CHANGED_NOTIFIED[i]}`)
    .join(", ");
}
