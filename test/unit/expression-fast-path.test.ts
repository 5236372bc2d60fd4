import jsonata from "jsonata";
import { describe, expect, it } from "vitest";
import { fastPath, NOT_HANDLED } from "../../src/engine/expression-fast-path.ts";
import { compileExpression } from "../../src/engine/expressions.ts";

const EXPRESSIONS = [
  "'uid=' & $lowercase(employeeId) & ',ou=people,dc=example,dc=org'",
  "$lowercase(employeeId)",
  "$uppercase(sn)",
  "givenName & ' ' & sn",
  "sn",
  '"it\'s" & "\\u00e9\\t" & sn',
  "$lowercase(givenName & '.' & sn)",
  "$map(members, $lowercase)",
  "$map(members, $uppercase)",
  // Outside the subset: JSONata answers.
  "$n = 1 ? $lowercase(givenName) : $lowercase(givenName) & $n",
  "$trim(sn)",
  "sn[0]",
  "name.first",
  "$string(age) & 'y'",
  "$map(members, $trim)",
  "$map(members, function($v) { $lowercase($v) })",
  "$lowercase($map(members, $lowercase))",
  "$map(members, $constructor)",
  "$constructor(sn)",
];

const INPUTS: Record<string, unknown>[] = [
  { employeeId: "E1", givenName: "Zoë", sn: "Þórsdóttir", age: 42, members: ["Ann", "BOB", "İlker"] },
  { employeeId: "İSTANBUL", givenName: "", sn: "ß", members: "Zoë" },
  {},
  { sn: ["a", "b"], givenName: "x", members: [] },
  { sn: 12.5, employeeId: 7, givenName: true, members: ["a", 1] },
  { sn: null, givenName: { a: 1 }, name: { first: "A" }, members: [["a"]] },
  { members: ["Solo"] },
  { members: ["a", null] },
];

describe("the expression fast path", () => {
  it("answers every expression and input as JSONata does (or leaves it to JSONata)", async () => {
    let handled = 0;
    for (const source of EXPRESSIONS)
      for (const input of INPUTS)
        for (const bindings of [undefined, { n: 2 }, { lowercase: () => "shadowed" }]) {
          const expected = await jsonata(source)
            .evaluate(input, bindings)
            .then(
              // JSONata marks a list it built as a sequence (a property of its own); the values are the answer.
              (v) => ({ v: Array.isArray(v) ? [...v] : v }),
              (e: { code?: string }) => ({ error: e.code }),
            );
          const actual = await compileExpression(source)
            .evaluate(input, bindings)
            .then(
              (v) => ({ v: Array.isArray(v) ? [...v] : v }),
              (e: { jsonataCode?: string }) => ({ error: e.jsonataCode }),
            );
          expect(actual, `${source} on ${JSON.stringify(input)} with ${JSON.stringify(bindings)}`).toEqual(expected);
          const fast = fastPath(jsonata(source).ast() as never);
          if (fast && fast(input, bindings) !== NOT_HANDLED) handled++;
        }
    // The string-building flows on string (or absent) values are the fast path's own.
    expect(handled).toBeGreaterThan(20);
  });

  it("takes only the subset: other syntax is JSONata's", () => {
    for (const source of [
      "$n = 1 ? sn : givenName",
      "$trim(sn)",
      "sn[0]",
      "name.first",
      "$string(age) & 'y'",
      "1 & sn",
      "$constructor(sn)",
      "$map(members, $trim)",
      "$map(members.uid, $lowercase)",
      "'x' & $map(members, $lowercase)",
    ])
      expect(fastPath(jsonata(source).ast() as never), source).toBeNull();
    const fast = fastPath(jsonata("'uid=' & $lowercase(employeeId)").ast() as never)!;
    expect(fast({ employeeId: "ABC" })).toBe("uid=abc");
    expect(fast({})).toBe("uid=");
    expect(fast({ employeeId: 7 })).toBe(NOT_HANDLED);
    expect(fast({ employeeId: "A" }, { lowercase: () => "" })).toBe(NOT_HANDLED);
    const members = fastPath(jsonata("$map(members, $lowercase)").ast() as never)!;
    expect(members({ members: ["A", "B"] })).toEqual(["a", "b"]);
    expect(members({ members: ["A", 2] })).toBe(NOT_HANDLED);
    expect(members({ members: ["A", "B"] }, { map: () => [] })).toBe(NOT_HANDLED);
  });
});
