import type { RunCounts } from "../engine/run-context.ts";

/** How the operation itself ended, before the run's counts and a late cancel are weighed in. */
export type OperationEnding =
  | { status: "COMPLETED" }
  | { status: "CANCELLED" }
  | { status: "FAILED"; reasonCode: string; reason: string; error: string | null; nextSteps: string[] };

export type FinalRunStatus = "COMPLETED" | "PARTIAL" | "FAILED" | "CANCELLED";

/** What finishing writes on the run row. */
export interface FinalRunState {
  status: FinalRunStatus;
  reasonCode: string | null;
  reason: string | null;
  error: string | null;
  nextSteps: string[];
}

/**
 * The final status of a run, from how its operation ended, the counts its batches committed and
 * whether a cancel was requested meanwhile (the row is CANCELLING):
 *  - a requested cancel wins, even after the last batch: the caller was promised CANCELLED;
 *  - an operation that failed or was cancelled ends so;
 *  - a completed operation ends FAILED when every record it touched failed, PARTIAL when some
 *    did (reason RECORDS_FAILED), COMPLETED otherwise.
 * The operation's own failure reason is kept whatever the status (a cancel racing a failure
 * still tells why the operation stopped).
 */
export function decideFinalStatus(input: {
  ending: OperationEnding;
  cancelRequested: boolean;
  counts: Pick<RunCounts, "created" | "updated" | "deleted" | "unchanged" | "failed" | "exportsQueued">;
}): FinalRunState {
  const { ending, counts } = input;
  const failure = ending.status === "FAILED" ? ending : null;
  const recordsFailed = ending.status === "COMPLETED" && counts.failed > 0;
  const succeeded = counts.created + counts.updated + counts.deleted + counts.unchanged + counts.exportsQueued;
  let status: FinalRunStatus;
  if (input.cancelRequested) status = "CANCELLED";
  else if (ending.status !== "COMPLETED") status = ending.status;
  else if (counts.failed > 0) status = succeeded === 0 ? "FAILED" : "PARTIAL";
  else status = "COMPLETED";
  return {
    status,
    reasonCode: failure?.reasonCode ?? (recordsFailed ? "RECORDS_FAILED" : null),
    reason: failure?.reason ?? (recordsFailed ? `${counts.failed} record(s) failed; see the run's changes` : null),
    error: failure?.error ?? null,
    nextSteps: failure?.nextSteps ?? [],
  };
}
