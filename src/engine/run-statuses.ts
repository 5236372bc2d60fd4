/**
 * Statuses that hold a run's scopes. A PAUSED run is active too: it keeps its scopes (and dedupes
 * its operation) until resumed or cancelled. The engine reads them too (an export run waits for
 * the exports of a planning run that is still active), so they live here, below the jobs layer.
 */
export const ACTIVE_STATUSES = ["QUEUED", "RUNNING", "CANCELLING", "PAUSED"] as const;
/** Statuses a run never leaves. */
export const FINAL_STATUSES = ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "BLOCKED"] as const;
export const isFinalStatus = (status: string) => (FINAL_STATUSES as readonly string[]).includes(status);

/** ACTIVE_STATUSES as an SQL list, `('QUEUED', ...)`, for statements that compare with it inline. */
export const ACTIVE_STATUSES_SQL = `(${ACTIVE_STATUSES.map((s) => `'${s}'`).join(", ")})`;
