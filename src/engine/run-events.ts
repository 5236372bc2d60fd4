/**
 * Run event types (seed 003), stable for dashboards and tests: the run machinery's and the
 * engine's own, in one list.
 */
export const RunEventType = {
  triggered: "run.triggered",
  blocked: "run.blocked",
  started: "run.started",
  recordsFetched: "run.records_fetched",
  batchProcessed: "run.batch_processed",
  retryAttempt: "run.retry_attempt",
  recovered: "run.recovered",
  cancelRequested: "run.cancel_requested",
  pauseRequested: "run.pause_requested",
  paused: "run.paused",
  resumed: "run.resumed",
  completed: "run.completed",
  /** An export run held deletes over the system's delete threshold for approval. */
  deletesHeld: "run.deletes_held",
  /**
   * A sync run's planned exports to one system crossed a mass-change breaker and wait for
   * approval; data: { holdId, connectedSystemId, syncRuleId, reason, isDefault, held, figures, crossings }.
   */
  breakerHeld: "run.breaker_held",
  /** A dry-run sync would have been held by a mass-change breaker; data as breakerHeld, without holdId and held. */
  breakerWouldHold: "run.breaker_would_hold",
} as const;

export type RunEventTypeName = (typeof RunEventType)[keyof typeof RunEventType];
