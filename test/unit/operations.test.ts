import { describe, expect, it } from "vitest";
import {
  conflicts,
  OPERATION_TYPES,
  type OperationType,
  operationForProfile,
  operations,
  parseProfile,
} from "../../src/jobs/operations.ts";

const I = "connector.full_import";
const DI = "connector.delta_import";
const S = "connector.full_sync";
const DS = "connector.delta_sync";
const E = "connector.export";
const RT = "connector.realtime";

/**
 * The conflict matrix, written out: rows and columns in the order I, DI, S, DS, E, RT.
 * Same system: everything conflicts (all hold cs:X). Different systems: only syncs (REALTIME
 * included: it syncs what it applied) conflict with each other (they hold mv).
 */
const SAME_SYSTEM: Record<OperationType, boolean[]> = {
  [I]: [true, true, true, true, true, true],
  [DI]: [true, true, true, true, true, true],
  [S]: [true, true, true, true, true, true],
  [DS]: [true, true, true, true, true, true],
  [E]: [true, true, true, true, true, true],
  [RT]: [true, true, true, true, true, true],
};
const OTHER_SYSTEM: Record<OperationType, boolean[]> = {
  [I]: [false, false, false, false, false, false],
  [DI]: [false, false, false, false, false, false],
  [S]: [false, false, true, true, false, true],
  [DS]: [false, false, true, true, false, true],
  [E]: [false, false, false, false, false, false],
  [RT]: [false, false, true, true, false, true],
};
const ORDER: OperationType[] = [I, DI, S, DS, E, RT];

describe("operation registry", () => {
  it("has one entry per stable type string with its profile, queue and scopes", () => {
    expect(OPERATION_TYPES.sort()).toEqual([DI, E, I, DS, S, RT].sort());
    expect(operations[I].scopes("x")).toEqual(["cs:x"]);
    expect(operations[S].scopes("x")).toEqual(["cs:x", "mv"]);
    expect(operations[E].scopes("x")).toEqual(["cs:x", "export:x"]);
    expect(operationForProfile("DELTA_SYNC").type).toBe(DS);
    expect(new Set(OPERATION_TYPES.map((t) => operations[t].queue)).size).toBe(1);
  });

  it.each(ORDER)("%s conflicts exactly as the matrix says", (a) => {
    ORDER.forEach((b, i) => {
      expect(conflicts(a, "hr", b, "hr"), `${a} vs ${b} on the same system`).toBe(SAME_SYSTEM[a][i]);
      expect(conflicts(a, "hr", b, "ldap"), `${a} vs ${b} on different systems`).toBe(OTHER_SYSTEM[a][i]);
    });
  });

  it("is symmetric", () => {
    for (const a of ORDER) for (const b of ORDER) expect(conflicts(a, "hr", b, "ldap")).toBe(conflicts(b, "ldap", a, "hr"));
  });

  it("declares preflight checks per operation: only operations that talk to the system test the connection", () => {
    expect(operations[I].preflight).toContain("connection");
    expect(operations[S].preflight).not.toContain("connection");
    expect(operations[S].requiredRuleDirection).toBe("INBOUND");
    expect(operations[E].requiredRuleDirection).toBe("OUTBOUND");
    expect(operations[E].preflight).toEqual(["staging", "config", "secrets", "connection", "schema", "syncRules"]);
  });

  it("parses profiles the way people type them", () => {
    expect(parseProfile("full_import")).toBe("FULL_IMPORT");
    expect(parseProfile("delta-sync")).toBe("DELTA_SYNC");
    expect(parseProfile("connector.export")).toBe("EXPORT");
    expect(parseProfile("everything")).toBeNull();
  });
});
