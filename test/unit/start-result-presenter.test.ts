import { describe, expect, it } from "vitest";
import type { StartResult } from "../../src/jobs/start-gate.ts";
import { presentStartResult } from "../../src/jobs/start-result-presenter.ts";

const run = { id: "r1", operation: "connector.full_sync" as const, status: "RUNNING", connectedSystemId: "s1", systemName: "hr" };

describe("start result presenter", () => {
  it("says the same thing for every surface, per outcome", () => {
    const accepted = presentStartResult({
      outcome: "ACCEPTED",
      run: { ...run, status: "QUEUED" },
      sharedScopes: [],
      failure: null,
    });
    expect(accepted).toMatchObject({ outcome: "ACCEPTED", runId: "r1", reasonCode: null });
    expect(accepted.message).toBe("Accepted: connector.full_sync on hr is queued as run r1.");

    const deduped = presentStartResult({ outcome: "DEDUPED", run, sharedScopes: [], failure: null });
    expect(deduped).toMatchObject({ reasonCode: "ALREADY_RUNNING" });
    expect(deduped.nextSteps[1]).toBe('Or cancel it with cancelRun(id: "r1") and start again');

    const busy = presentStartResult({ outcome: "SCOPE_BUSY", run, sharedScopes: ["mv"], failure: null } satisfies StartResult);
    expect(busy.reason).toBe(
      "connector.full_sync on hr holds the metaverse (run r1, running); the requested operation would conflict with it.",
    );

    const blocked = presentStartResult({
      outcome: "BLOCKED",
      run: { ...run, status: "BLOCKED" },
      sharedScopes: [],
      failure: { reasonCode: "NO_SYNC_RULES", reason: "no rules", nextSteps: ["create one"] },
    });
    expect(blocked).toMatchObject({ reasonCode: "NO_SYNC_RULES", reason: "no rules", nextSteps: ["create one"] });
  });
});
