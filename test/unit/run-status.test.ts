import { describe, expect, it } from "vitest";
import { decideFinalStatus, type OperationEnding } from "../../src/jobs/run-status.ts";

const counts = (c: Partial<Record<"created" | "updated" | "deleted" | "unchanged" | "failed" | "exportsQueued", number>>) => ({
  created: 0,
  updated: 0,
  deleted: 0,
  unchanged: 0,
  failed: 0,
  exportsQueued: 0,
  ...c,
});
const completed: OperationEnding = { status: "COMPLETED" };
const failure: OperationEnding = {
  status: "FAILED",
  reasonCode: "CONNECTION_FAILED",
  reason: "connector.full_import failed: refused",
  error: "refused",
  nextSteps: ["Fix the cause above and start the run again"],
};

describe("final run status", () => {
  it("a completed operation with no failed record is COMPLETED, without a reason", () => {
    expect(
      decideFinalStatus({ ending: completed, cancelRequested: false, counts: counts({ created: 3, unchanged: 2 }) }),
    ).toEqual({
      status: "COMPLETED",
      reasonCode: null,
      reason: null,
      error: null,
      nextSteps: [],
    });
  });

  it("some failed records make it PARTIAL, with RECORDS_FAILED and how many", () => {
    const final = decideFinalStatus({ ending: completed, cancelRequested: false, counts: counts({ updated: 5, failed: 2 }) });
    expect(final).toMatchObject({ status: "PARTIAL", reasonCode: "RECORDS_FAILED" });
    expect(final.reason).toBe("2 record(s) failed; see the run's changes");
  });

  it("every record failing makes it FAILED; queued exports count as success", () => {
    expect(decideFinalStatus({ ending: completed, cancelRequested: false, counts: counts({ failed: 4 }) })).toMatchObject({
      status: "FAILED",
      reasonCode: "RECORDS_FAILED",
    });
    expect(
      decideFinalStatus({ ending: completed, cancelRequested: false, counts: counts({ failed: 4, exportsQueued: 1 }) }).status,
    ).toBe("PARTIAL");
    for (const key of ["created", "updated", "deleted", "unchanged"] as const)
      expect(
        decideFinalStatus({ ending: completed, cancelRequested: false, counts: counts({ failed: 1, [key]: 1 }) }).status,
      ).toBe("PARTIAL");
  });

  it("a failed operation keeps its own reason, error and next steps, whatever the counts", () => {
    expect(decideFinalStatus({ ending: failure, cancelRequested: false, counts: counts({ created: 1, failed: 1 }) })).toEqual({
      status: "FAILED",
      reasonCode: "CONNECTION_FAILED",
      reason: "connector.full_import failed: refused",
      error: "refused",
      nextSteps: ["Fix the cause above and start the run again"],
    });
  });

  it("a cancelled operation is CANCELLED, without a reason", () => {
    expect(
      decideFinalStatus({ ending: { status: "CANCELLED" }, cancelRequested: true, counts: counts({ failed: 3 }) }),
    ).toMatchObject({ status: "CANCELLED", reasonCode: null, reason: null });
  });

  it("a cancel requested after the last batch still ends CANCELLED, as the caller was promised", () => {
    expect(decideFinalStatus({ ending: completed, cancelRequested: true, counts: counts({ created: 1 }) }).status).toBe(
      "CANCELLED",
    );
    // The operation's failure still says why it stopped.
    expect(decideFinalStatus({ ending: failure, cancelRequested: true, counts: counts({}) })).toMatchObject({
      status: "CANCELLED",
      reasonCode: "CONNECTION_FAILED",
    });
  });
});
