import { describe, expect, it } from "vitest";
import {
  BreakerSchema,
  evaluateBreaker,
  holdReason,
  objectsDeciding,
  type RunFigures,
  ruleLimits,
  systemLimits,
} from "../../src/engine/outbound/breaker.ts";

const figures = (f: Partial<RunFigures>): RunFigures => ({
  creates: 0,
  updates: 0,
  deletes: 0,
  attributes: {},
  objects: 1000,
  ...f,
});

describe("mass-change breaker evaluation", () => {
  it("the default protection holds deletes above 500 or 5% of the system, whichever is lower", () => {
    const limits = systemLimits(null);
    expect(limits).toMatchObject({ maxDeletes: 500, maxDeletePercent: 5, isDefault: true, maxCreates: null });
    // 5% of 1,000 is 50: the lower limit.
    expect(evaluateBreaker(limits, figures({ deletes: 50 }))).toEqual([]);
    expect(evaluateBreaker(limits, figures({ deletes: 51 }))).toEqual([
      { field: "maxDeletePercent", limit: 5, actual: 5.1, unit: "percent" },
    ]);
    // 5% of 100,000 is 5,000: 500 is lower.
    expect(evaluateBreaker(limits, figures({ deletes: 501, objects: 100_000 }))).toEqual([
      { field: "maxDeletes", limit: 500, actual: 501, unit: "count" },
    ]);
    // Creates and updates are not limited by default.
    expect(evaluateBreaker(limits, figures({ creates: 900, updates: 900 }))).toEqual([]);
  });

  it("a configured breaker keeps the default delete limits unless it sets one; enabled false turns everything off", () => {
    expect(systemLimits({ maxUpdates: 10 })).toMatchObject({
      maxUpdates: 10,
      maxDeletes: 500,
      maxDeletePercent: 5,
      isDefault: false,
    });
    expect(systemLimits({ maxDeletes: 20 })).toMatchObject({ maxDeletes: 20, maxDeletePercent: null });
    expect(systemLimits({ maxDeletePercent: 100 })).toMatchObject({ maxDeletes: null, maxDeletePercent: 100 });
    expect(evaluateBreaker(systemLimits({ enabled: false }), figures({ deletes: 1000 }))).toEqual([]);
    // A rule has no default: nothing configured is no limit.
    expect(ruleLimits(null)).toBeNull();
    expect(ruleLimits({})).toBeNull();
    expect(ruleLimits({ maxCreates: 1 })).toMatchObject({ maxCreates: 1, maxDeletes: null });
  });

  it("judges creates, updates and deletes separately, as counts and percentages; a figure equal to its limit passes", () => {
    const limits = systemLimits({ maxCreates: 10, maxUpdatePercent: 2, maxDeletes: 3, maxDeletePercent: 100 });
    expect(evaluateBreaker(limits, figures({ creates: 10, updates: 20, deletes: 3 }))).toEqual([]);
    expect(evaluateBreaker(limits, figures({ creates: 11, updates: 21, deletes: 4 }))).toEqual([
      { field: "maxCreates", limit: 10, actual: 11, unit: "count" },
      { field: "maxUpdatePercent", limit: 2, actual: 2.1, unit: "percent" },
      { field: "maxDeletes", limit: 3, actual: 4, unit: "count" },
    ]);
  });

  it("attribute limits count updates per attribute, case-insensitively, against the system's objects", () => {
    const limits = systemLimits({ attributes: [{ name: "department", maxChangePercent: 2 }] });
    expect(evaluateBreaker(limits, figures({ updates: 100, attributes: { department: 20 } }))).toEqual([]);
    const crossed = evaluateBreaker(limits, figures({ updates: 100, attributes: { department: 21 } }));
    expect(crossed).toEqual([{ field: "attributes.department", limit: 2, actual: 2.1, unit: "percent" }]);
    expect(holdReason(crossed, figures({ attributes: { department: 21 } }), false)).toBe(
      "mass-change breaker: 21 changes of department (2.1% of 1000 objects) > attributes.department 2%",
    );
  });

  it("objectsDeciding is the fewest objects at which no percentage limit is crossed", () => {
    const limits = systemLimits({ maxUpdatePercent: 2, attributes: [{ name: "department", maxChangePercent: 10 }] });
    const cases: Omit<RunFigures, "objects">[] = [
      { creates: 0, updates: 21, deletes: 0, attributes: {} },
      { creates: 5, updates: 3, deletes: 51, attributes: { department: 3 } },
      { creates: 0, updates: 7, deletes: 0, attributes: { department: 333 } },
    ];
    for (const tally of cases) {
      const fewest = objectsDeciding(limits, tally);
      const percentCrossed = (objects: number) =>
        evaluateBreaker(limits, { ...tally, objects }).some((c) => c.unit === "percent");
      expect(percentCrossed(fewest)).toBe(false);
      expect(percentCrossed(fewest + 1000)).toBe(false);
      expect(percentCrossed(fewest - 1)).toBe(true);
    }
    // 21 updates are more than 2% below 1,050 objects; 51 deletes more than the default 5% below 1,020.
    expect(objectsDeciding(limits, cases[0]!)).toBe(1050);
    expect(objectsDeciding(systemLimits(null), { creates: 0, updates: 0, deletes: 51, attributes: {} })).toBe(1020);
    // Nothing to judge: no figure, or no percentage limit for it.
    expect(objectsDeciding(systemLimits(null), { creates: 900, updates: 900, deletes: 0, attributes: {} })).toBe(0);
    // 0% is crossed by any change of a non-empty system: one object decides.
    expect(objectsDeciding(systemLimits({ maxCreatePercent: 0 }), { creates: 1, updates: 0, deletes: 0, attributes: {} })).toBe(
      1,
    );
  });

  it("percentages of an empty system are not judged (a first load is governed by counts)", () => {
    const limits = systemLimits({ maxCreatePercent: 10, maxCreates: 5 });
    expect(evaluateBreaker(limits, figures({ creates: 3, objects: 0 }))).toEqual([]);
    expect(evaluateBreaker(limits, figures({ creates: 6, objects: 0 }))).toEqual([
      { field: "maxCreates", limit: 5, actual: 6, unit: "count" },
    ]);
  });

  it("the reason names every limit crossed with its figures, and says when the default protection held", () => {
    const f = figures({ deletes: 60 });
    expect(holdReason(evaluateBreaker(systemLimits(null), f), f, true)).toBe(
      "mass-change breaker (default protection): 60 deletes (6% of 1000 objects) > maxDeletePercent 5%",
    );
  });

  it("refuses percentages outside 0-100, negative or fractional counts, empty and repeated attribute names, naming the field", () => {
    const paths = (input: unknown) => {
      const r = BreakerSchema.safeParse(input);
      return r.success ? [] : r.error.issues.map((i) => i.path.join("."));
    };
    expect(paths({ maxDeletePercent: 101 })).toEqual(["maxDeletePercent"]);
    expect(paths({ maxCreatePercent: -0.5 })).toEqual(["maxCreatePercent"]);
    expect(paths({ maxDeletes: -1, maxUpdates: 1.5 })).toEqual(["maxUpdates", "maxDeletes"]);
    expect(paths({ attributes: [{ name: "", maxChangePercent: 1 }] })).toEqual(["attributes.0.name"]);
    expect(paths({ attributes: [{ name: "department", maxChangePercent: 200 }] })).toEqual(["attributes.0.maxChangePercent"]);
    expect(
      paths({
        attributes: [
          { name: "department", maxChangePercent: 1 },
          { name: "Department", maxChangePercent: 2 },
        ],
      }),
    ).toEqual(["attributes.1.name"]);
    expect(paths({ maxDeletz: 1 })).toEqual([""]);
    expect(paths({ enabled: false, maxDeletePercent: 0, maxDeletes: 0, attributes: [] })).toEqual([]);
  });
});
