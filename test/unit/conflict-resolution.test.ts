import { describe, expect, it } from "vitest";
import type { FlowValue } from "../../src/engine/expressions.ts";
import { type ConflictStrategy, ConflictStrategySchema } from "../../src/engine/rule-config.ts";
import { type Candidate, type Contributor, mergeMetaverseObject, resolveConflict } from "../../src/engine/sync/merge.ts";
import type { InboundRule } from "../../src/engine/sync/rules.ts";
import { ConflictStrategy as PrismaConflictStrategy } from "../../src/generated/prisma/enums.ts";

const rule = (id: string, precedence: number, conflictStrategy: ConflictStrategy | null = null) =>
  ({
    id,
    name: id,
    precedence,
    conflictStrategy,
    deduplication: null,
    flows: [{ target: "mail", initialOnly: false, compute: (a: Record<string, FlowValue>) => a.mail ?? null }],
  }) as unknown as InboundRule;

const contributor = (systemId: string, mail: string, importedAt: number, r = rule(systemId, 10)): Contributor => ({
  csoId: `${systemId}-cso`,
  systemId,
  rule: r,
  attributes: { mail },
  joinedAt: importedAt,
  importedAt,
});
const candidate = (systemId: string, value: string, importedAt: number): Candidate => ({
  contributor: contributor(systemId, value, importedAt),
  value,
  completeness: 0,
});

// Sorted as merge sorts them: precedence, then join order.
const hr = candidate("hr", "ada@hr", 1);
const crm = candidate("crm", "ada@crm", 3);
const ldap = candidate("ldap", "ada@ldap", 2);
const candidates = [hr, crm, ldap];
const winner = (strategy: ConflictStrategy, current: FlowValue, syncing = "crm") =>
  resolveConflict(strategy, candidates, current, syncing)?.contributor.systemId ?? null;

describe("field conflict resolution", () => {
  it("every strategy of the database enum is accepted by validation and has a resolver", () => {
    const values = Object.values(PrismaConflictStrategy);
    expect([...ConflictStrategySchema.options].sort()).toEqual([...values].sort());
    for (const strategy of values) expect(resolveConflict(strategy, candidates, null, "hr")).not.toBeUndefined();
    expect(ConflictStrategySchema.safeParse("first_wins").success).toBe(false);
  });

  it("precedence takes the first candidate; newest_wins the latest import", () => {
    expect(winner("precedence", "ada@ldap")).toBe("hr");
    expect(winner("newest_wins", null)).toBe("crm");
  });

  it("source_wins takes the syncing system's value, or the first when it has none", () => {
    expect(winner("source_wins", null, "ldap")).toBe("ldap");
    expect(winner("source_wins", null, "elsewhere")).toBe("hr");
  });

  it("target_wins keeps the candidate equal to the current value, else the first", () => {
    expect(winner("target_wins", "ada@crm")).toBe("crm");
    expect(winner("target_wins", "someone@else")).toBe("hr");
  });

  it("manual keeps the current value (no winner when no candidate has it); a new attribute takes the first", () => {
    expect(winner("manual", "ada@ldap")).toBe("ldap");
    expect(winner("manual", "someone@else")).toBeNull();
    expect(winner("manual", null)).toBe("hr");
  });

  it("merge reports the conflict with its strategy and keeps the current value under manual", async () => {
    const manual = rule("hr", 10, "manual");
    const result = await mergeMetaverseObject(
      { attributes: { mail: "old@x" }, contributions: {} },
      [contributor("hr", "ada@hr", 1, manual), contributor("crm", "ada@crm", 2, rule("crm", 20))],
      { creating: false, runId: "r1", syncingSystemId: "crm" },
    );
    expect(result.attributes).toEqual({ mail: "old@x" });
    expect(result.conflicts).toEqual([
      {
        attribute: "mail",
        strategy: "manual",
        candidates: [
          { systemId: "hr", csoId: "hr-cso", value: "ada@hr" },
          { systemId: "crm", csoId: "crm-cso", value: "ada@crm" },
        ],
        winner: null,
      },
    ]);
  });
});
