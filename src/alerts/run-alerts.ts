import type { AlertEvent } from "../generated/prisma/enums.ts";
import { HOLD_EVENTS, STATUS_EVENTS } from "./events.ts";

/** A run as alerts describe it, read in the transaction that ended it. */
export interface RunFacts {
  id: string;
  operation: string;
  profile: string;
  status: string;
  dryRun: boolean;
  trigger: string;
  reasonCode: string | null;
  reason: string | null;
  error: string | null;
  connectedSystemId: string;
  systemName: string | null;
  attempt: number;
  /** ISO 8601, UTC. */
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  counts: Record<string, number>;
  /** The run's hold events (HOLD_EVENTS types), oldest first. */
  holds: { type: string; data: Record<string, unknown> }[];
  /** Pending exports this run left in ERROR (retries spent or permanent failure). */
  exportErrors: number;
  exportErrorSamples: { id: string; changeType: string; code: string | null; message: string | null }[];
  /** Deletes this (sync) run planned and held at once over a target's delete threshold, per target. */
  plannedHolds: { connectedSystemId: string; name: string; held: number }[];
}

/** One alert to raise: the event, its once-only key and the document sent to endpoints. */
export interface AlertFacts {
  event: AlertEvent;
  dedupeKey: string;
  runId: string | null;
  connectedSystemId: string | null;
  document: Record<string, unknown>;
}

/**
 * The alerts a run raises when it ends: its status (FAILED, PARTIAL, BLOCKED), the exports it
 * left in ERROR, and each kind of hold it recorded (breaker, delete threshold). One alert per
 * run and kind, whatever the number of records or batches behind it: a run that held 10,000
 * deletes pages once, with the count.
 */
export function alertsOfRun(run: RunFacts): AlertFacts[] {
  const alerts: AlertFacts[] = [];
  const add = (event: AlertEvent, summary: string, details: Record<string, unknown>) =>
    alerts.push({
      event,
      dedupeKey: `run:${run.id}:${event}`,
      runId: run.id,
      connectedSystemId: run.connectedSystemId,
      document: document(run, summary, details),
    });
  const system = run.systemName ?? run.connectedSystemId;
  const byStatus = STATUS_EVENTS[run.status];
  if (byStatus)
    add(byStatus, `${run.profile} of ${system} ended ${run.status}${run.reason ? `: ${run.reason}` : ""}`, {
      reasonCode: run.reasonCode,
    });
  if (run.exportErrors > 0)
    add("EXPORT_ERROR", `${run.exportErrors} export(s) to ${system} reached ERROR`, {
      errors: run.exportErrors,
      samples: run.exportErrorSamples,
    });
  const holdsByEvent = new Map<AlertEvent, Record<string, unknown>[]>();
  if (run.plannedHolds.length)
    holdsByEvent.set(
      "THRESHOLD_HOLD",
      run.plannedHolds.map((h) => ({ held: h.held, connectedSystem: { id: h.connectedSystemId, name: h.name } })),
    );
  for (const hold of run.holds) {
    const event = HOLD_EVENTS[hold.type];
    if (event) holdsByEvent.set(event, [...(holdsByEvent.get(event) ?? []), hold.data]);
  }
  for (const [event, holds] of holdsByEvent) {
    const held = holds.reduce<number>((n, h) => n + (typeof h.held === "number" ? h.held : 0), 0);
    const what = event === "THRESHOLD_HOLD" ? "the delete threshold" : "the mass-change breaker";
    add(event, `${run.profile} of ${system} held ${held || "its"} export(s) for approval (${what})`, {
      held,
      holds: holds.slice(0, 10),
    });
  }
  return alerts;
}

/** A run whose worker stopped heartbeating: one alert per lost attempt. */
export function staleRunAlert(run: RunFacts, stale: { attempt: number; workerId: string | null }): AlertFacts {
  const system = run.systemName ?? run.connectedSystemId;
  return {
    event: "RUN_STALE",
    dedupeKey: `run:${run.id}:RUN_STALE:${stale.attempt}`,
    runId: run.id,
    connectedSystemId: run.connectedSystemId,
    document: document(
      run,
      `${run.profile} of ${system} stopped heartbeating on worker ${stale.workerId ?? "?"}; it is recovered`,
      {
        attempt: stale.attempt,
        workerId: stale.workerId,
      },
    ),
  };
}

/** The document endpoints receive (besides id, event and occurredAt): what, where, why. */
function document(run: RunFacts, summary: string, details: Record<string, unknown>): Record<string, unknown> {
  return {
    summary,
    connectedSystem: { id: run.connectedSystemId, name: run.systemName },
    run: {
      id: run.id,
      operation: run.operation,
      profile: run.profile,
      status: run.status,
      dryRun: run.dryRun,
      trigger: run.trigger,
      reasonCode: run.reasonCode,
      reason: run.reason,
      error: run.error,
      attempt: run.attempt,
      counts: run.counts,
      createdAt: iso(run.createdAt),
      startedAt: iso(run.startedAt),
      finishedAt: iso(run.finishedAt),
    },
    details,
  };
}

const iso = (d: string | null) => (d ? new Date(d).toISOString() : null);
