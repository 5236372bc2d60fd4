import { RunEventType } from "../engine/run-events.ts";
import type { AlertEvent } from "../generated/prisma/enums.ts";

/** Every alert event, in the order the API lists them (the database enum is the source). */
export const ALERT_EVENTS = [
  "RUN_FAILED",
  "RUN_PARTIAL",
  "RUN_BLOCKED",
  "EXPORT_ERROR",
  "BREAKER_HOLD",
  "THRESHOLD_HOLD",
  "RUN_STALE",
  "INBOX_AGE",
] as const satisfies readonly AlertEvent[];

/**
 * Run events that mean "exports were held for approval", by the alert they raise. Matched by
 * type name: the mass-change breaker records `run.breaker_held` (RunEventType.breakerHeld once it
 * exists), the delete threshold `run.deletes_held`.
 */
export const HOLD_EVENTS: Record<string, AlertEvent> = {
  [(RunEventType as Record<string, string>).breakerHeld ?? "run.breaker_held"]: "BREAKER_HOLD",
  [RunEventType.deletesHeld]: "THRESHOLD_HOLD",
};

/**
 * A sync run that plans more deletes for a system than its delete threshold holds them at once
 * (engine/pending-export/planning.ts holdDeletesOverThreshold) without a run event: those
 * exports are recognised by this approval reason, the one that function writes.
 */
export const THRESHOLD_APPROVAL_REASON = "more deletes than the delete threshold";

/** A run's final status -> the alert it raises, if any. */
export const STATUS_EVENTS: Record<string, AlertEvent> = {
  FAILED: "RUN_FAILED",
  PARTIAL: "RUN_PARTIAL",
  BLOCKED: "RUN_BLOCKED",
};

/** Bus topic: an alert was raised (payload { alertId }), delivered on commit to every process. */
export const ALERTS_TOPIC = "alerts";

/** pg-boss queue of alert deliveries: one job per (alert, endpoint) pair and attempt. */
export const ALERT_QUEUE = "alert-delivery";
