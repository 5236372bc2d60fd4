import type { StartOutcome, StartResult } from "./start-gate.ts";

/** What the API (StartRunResult), the CLI and the dashboard show for a start attempt. */
export interface PresentedStart {
  outcome: StartOutcome;
  runId: string;
  reasonCode: string | null;
  reason: string | null;
  nextSteps: string[];
  /** One line for humans (CLI, toast). */
  message: string;
}

const STATE: Record<string, string> = { QUEUED: "queued", CANCELLING: "being cancelled", PAUSED: "paused" };

/** The one place that turns a start result into words: every surface says the same thing. */
export function presentStartResult(result: StartResult): PresentedStart {
  const { run } = result;
  const what = `${run.operation} on ${run.systemName}`;
  switch (result.outcome) {
    case "ACCEPTED":
      return {
        outcome: "ACCEPTED",
        runId: run.id,
        reasonCode: null,
        reason: null,
        nextSteps: [`Follow it with runProgress(runId: "${run.id}")`],
        message: `Accepted: ${what} is queued as run ${run.id}.`,
      };
    case "DEDUPED": {
      const state = STATE[run.status] ?? "running";
      return {
        outcome: "DEDUPED",
        runId: run.id,
        reasonCode: run.status === "QUEUED" ? "ALREADY_QUEUED" : run.status === "PAUSED" ? "ALREADY_PAUSED" : "ALREADY_RUNNING",
        reason: `${what} is already ${state} as run ${run.id}; no second run was started.`,
        nextSteps: [
          run.status === "PAUSED"
            ? `Resume it with resumeRun(id: "${run.id}")`
            : `Follow the existing run with runProgress(runId: "${run.id}")`,
          `Or cancel it with cancelRun(id: "${run.id}") and start again`,
        ],
        message: `Deduped: ${what} is already ${state} (run ${run.id}).`,
      };
    }
    case "SCOPE_BUSY": {
      const scopes = result.sharedScopes.map(describeScope).join(" and ") || "a protected scope";
      return {
        outcome: "SCOPE_BUSY",
        runId: run.id,
        reasonCode: "SCOPE_BUSY",
        reason: `${what} holds ${scopes} (run ${run.id}, ${run.status.toLowerCase()}); the requested operation would conflict with it.`,
        nextSteps: [
          run.status === "PAUSED"
            ? `Run ${run.id} is paused and keeps its scopes: resume it with resumeRun(id: "${run.id}")`
            : `Wait for run ${run.id} to finish, then start again`,
          `Or cancel it with cancelRun(id: "${run.id}")`,
        ],
        message: `Scope busy: ${what} (run ${run.id}) holds ${scopes}.`,
      };
    }
    case "BLOCKED": {
      const failure = result.failure;
      return {
        outcome: "BLOCKED",
        runId: run.id,
        reasonCode: failure?.reasonCode ?? "BLOCKED",
        reason: failure?.reason ?? "The start was blocked by a preflight check.",
        nextSteps: failure?.nextSteps ?? [],
        message: `Blocked (${failure?.reasonCode ?? "BLOCKED"}): ${failure?.reason ?? ""}`,
      };
    }
  }
}

function describeScope(scope: string): string {
  if (scope === "mv") return "the metaverse";
  if (scope.startsWith("cs:")) return "the connector space";
  if (scope.startsWith("export:")) return "the target system";
  return scope;
}
