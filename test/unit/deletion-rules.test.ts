import { describe, expect, it } from "vitest";
import { decideDeletion } from "../../src/engine/sync/deletion-rules.ts";
import type { LinkChange } from "../../src/engine/sync/scope.ts";

const NOW = Date.parse("2026-12-05T12:00:00Z");
const leaver = (mvoDeletionRule: string, mvoDeletionGraceSeconds = 0): LinkChange =>
  ({
    cso: { id: "cso-1" },
    rule: { id: "rule-1", mvoDeletionRule, mvoDeletionGraceSeconds },
    mvoId: null,
    joinType: null,
    kind: "DISCONNECTED",
    previousMvoId: "mvo-1",
  }) as unknown as LinkChange;
const active = { id: "mvo-1", status: "ACTIVE" as const, deletionDueAt: null };
const base = { mvo: active, leaving: [], inboundConnectors: 0, joinedHere: false, systemId: "hr", now: NOW };

describe("identity deletion rules", () => {
  it("MANUAL keeps the identity whatever leaves", () => {
    expect(decideDeletion({ ...base, leaving: [leaver("MANUAL")] })).toEqual({
      status: "ACTIVE",
      deletionDueAt: null,
      changes: [],
    });
  });

  it("the authoritative source leaving deletes at once, even with other connectors left", () => {
    const out = decideDeletion({ ...base, leaving: [leaver("WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS")], inboundConnectors: 2 });
    expect(out.status).toBe("DELETED");
    expect(out.changes).toEqual([
      expect.objectContaining({ changeType: "MVO_DELETED", mvoId: "mvo-1", csoId: "cso-1", syncRuleId: "rule-1" }),
    ]);
  });

  it("the last connector leaving deletes; one of several leaving does not", () => {
    expect(decideDeletion({ ...base, leaving: [leaver("WHEN_LAST_CONNECTOR_DISCONNECTS")] }).status).toBe("DELETED");
    expect(decideDeletion({ ...base, leaving: [leaver("WHEN_LAST_CONNECTOR_DISCONNECTS")], inboundConnectors: 1 }).status).toBe(
      "ACTIVE",
    );
  });

  it("a grace period schedules the deletion and says when", () => {
    const out = decideDeletion({ ...base, leaving: [leaver("WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS", 3600)] });
    expect(out.status).toBe("PENDING_DELETION");
    expect(out.deletionDueAt?.toISOString()).toBe("2026-12-05T13:00:00.000Z");
    expect(out.changes[0]).toMatchObject({ changeType: "MVO_DELETION_SCHEDULED", message: expect.stringContaining("13:00:00") });
  });

  it("a connector joining an identity pending deletion cancels it; a deleted one stays deleted", () => {
    const pending = { id: "mvo-1", status: "PENDING_DELETION" as const, deletionDueAt: new Date(NOW + 1000) };
    const rejoined = decideDeletion({ ...base, mvo: pending, joinedHere: true, inboundConnectors: 1 });
    expect(rejoined).toMatchObject({
      status: "ACTIVE",
      deletionDueAt: null,
      changes: [{ changeType: "MVO_DELETION_CANCELLED" }],
    });
    const deleted = { id: "mvo-1", status: "DELETED" as const, deletionDueAt: null };
    expect(decideDeletion({ ...base, mvo: deleted, leaving: [leaver("WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS")] }).changes).toEqual(
      [],
    );
  });
});
