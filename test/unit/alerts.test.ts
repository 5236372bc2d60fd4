import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { alertsOfRun, type RunFacts } from "../../src/alerts/run-alerts.ts";
import { signatureHeader, verifySignature } from "../../src/alerts/signature.ts";

const run = (over: Partial<RunFacts> = {}): RunFacts => ({
  id: "11111111-1111-4111-8111-111111111111",
  operation: "connector.export",
  profile: "EXPORT",
  status: "COMPLETED",
  dryRun: false,
  trigger: "API",
  reasonCode: null,
  reason: null,
  error: null,
  connectedSystemId: "22222222-2222-4222-8222-222222222222",
  systemName: "directory",
  attempt: 1,
  createdAt: "2026-01-01T00:00:00.000Z",
  startedAt: "2026-01-01T00:00:01.000Z",
  finishedAt: "2026-01-01T00:00:02.000Z",
  counts: { failed: 0 },
  holds: [],
  exportErrors: 0,
  exportErrorSamples: [],
  plannedHolds: [],
  ...over,
});

describe("alert signatures", () => {
  it("signs `<t>.<raw body>` with HMAC-SHA256 as t=<seconds>,v1=<hex>, and verifies only the same body and secret", () => {
    const body = '{"event":"RUN_FAILED"}';
    const header = signatureHeader("s3cret", body, 1_700_000_000);
    expect(header).toBe(`t=1700000000,v1=${createHmac("sha256", "s3cret").update(`1700000000.${body}`).digest("hex")}`);
    expect(verifySignature("s3cret", body, header)).toBe(true);
    expect(verifySignature("s3cret", `${body} `, header)).toBe(false);
    expect(verifySignature("other", body, header)).toBe(false);
    expect(verifySignature("s3cret", body, header.replace("t=1700000000", "t=1700000001"))).toBe(false);
    expect(verifySignature("s3cret", body, "garbage")).toBe(false);
  });
});

describe("alerts of a run", () => {
  it("raises nothing for a clean COMPLETED run", () => {
    expect(alertsOfRun(run())).toEqual([]);
  });

  it("maps FAILED, PARTIAL and BLOCKED to their events, once per run (dedupe key)", () => {
    for (const [status, event] of [
      ["FAILED", "RUN_FAILED"],
      ["PARTIAL", "RUN_PARTIAL"],
      ["BLOCKED", "RUN_BLOCKED"],
    ] as const) {
      const [alert] = alertsOfRun(run({ status, reason: "why" }));
      expect(alert).toMatchObject({ event, dedupeKey: `run:${run().id}:${event}` });
      expect(alert!.document).toMatchObject({ summary: `EXPORT of directory ended ${status}: why`, run: { status } });
    }
    expect(alertsOfRun(run({ status: "CANCELLED" }))).toEqual([]);
  });

  it("recognises holds by run event type: the delete threshold and the breaker's run.breaker_held", () => {
    const alerts = alertsOfRun(
      run({
        holds: [
          { type: "run.deletes_held", data: { held: 7 } },
          { type: "run.breaker_held", data: { held: 120, reason: "deletes over 5%" } },
          { type: "run.deletes_held", data: { held: 3 } },
        ],
      }),
    );
    expect(alerts.map((a) => [a.event, a.document.details])).toEqual([
      ["THRESHOLD_HOLD", { held: 10, holds: [{ held: 7 }, { held: 3 }] }],
      ["BREAKER_HOLD", { held: 120, holds: [{ held: 120, reason: "deletes over 5%" }] }],
    ]);
  });

  it("counts exports in ERROR and deletes held at planning time", () => {
    const alerts = alertsOfRun(
      run({
        profile: "FULL_SYNC",
        exportErrors: 2,
        exportErrorSamples: [{ id: "x", changeType: "CREATE", code: "ALREADY_EXISTS", message: "exists" }],
        plannedHolds: [{ connectedSystemId: "t", name: "target", held: 4 }],
      }),
    );
    expect(alerts.map((a) => a.event)).toEqual(["EXPORT_ERROR", "THRESHOLD_HOLD"]);
    expect(alerts[0]!.document.details).toMatchObject({ errors: 2 });
    expect(alerts[1]!.document.details).toMatchObject({ held: 4 });
  });
});
