import { describe, expect, it } from "vitest";
import { toFlowValue } from "../../src/engine/expressions.ts";
import { compileFlow, compileJoinSource, isPlainName } from "../../src/engine/flows.ts";

describe("attribute flows (one compiler, inbound and outbound)", () => {
  it("a source is copied as-is, synchronously, whatever the attribute's name", () => {
    const attributes = { "Employee ID": "00042", "cn;lang-fr": "Ada", mail: ["a@x", "b@x"], sn: null };
    expect(compileFlow({ target: "employeeId", source: "Employee ID" }).compute(attributes)).toBe("00042");
    expect(compileFlow({ target: "cn", source: "cn;lang-fr" }).compute(attributes)).toBe("Ada");
    expect(compileFlow({ target: "mail", source: "mail" }).compute(attributes)).toEqual(["a@x", "b@x"]);
    expect(compileFlow({ target: "sn", source: "sn" }).compute(attributes)).toBeNull();
    expect(compileFlow({ target: "x", source: "missing" }).compute(attributes)).toBeNull();
    // A source that looks like JSONata is still a name: copied (absent here), not evaluated.
    expect(compileFlow({ target: "x", source: "$uppercase(sn)" }).compute({ sn: "Ng" })).toBeNull();
    expect(compileFlow({ target: "x", source: "Employee ID" })).toMatchObject({ source: "Employee ID", text: "Employee ID" });
  });

  it("an expression is JSONata with $n (1 unless given) and the bindings, over present attributes only", async () => {
    const flow = compileFlow({ target: "uid", expression: "$lowercase(givenName) & ($n > 1 ? $string($n) : '')" });
    expect(flow).toMatchObject({ source: null, text: flow.text });
    expect(await flow.compute({ givenName: "Ada" })).toBe("ada");
    expect(await flow.compute({ givenName: "Ada" }, 3)).toBe("ada3");
    const dn = compileFlow({ target: "dn", expression: "'uid=' & $uid & ',ou=people'" });
    expect(await dn.compute({}, 1, { uid: "ada" })).toBe("uid=ada,ou=people");
    // An absent value is absent, not "null".
    const cn = compileFlow({ target: "cn", expression: "$join([givenName, sn], ' ')" });
    expect(await cn.compute({ givenName: "Ada", sn: null })).toBe("Ada");
    expect(await compileFlow({ target: "x", expression: "''" }).compute({})).toBeNull();
  });

  it("a join rule source is an attribute when it is a plain name, JSONata otherwise", async () => {
    expect(isPlainName("employeeId")).toBe(true);
    expect(isPlainName("employee-id_2")).toBe(true);
    expect(isPlainName("Employee ID")).toBe(false);
    expect(isPlainName("$lowercase(mail)")).toBe(false);
    expect(compileJoinSource("mail")({ mail: "A@X" })).toBe("A@X");
    expect(await compileJoinSource("$lowercase(mail)")({ mail: "A@X" })).toBe("a@x");
  });

  it("a flow's value drops empty values from lists, keeps one value a list, and refuses documents", () => {
    expect(toFlowValue(["a", null, "", undefined, "b", 0, false])).toEqual(["a", "b", 0, false]);
    expect(toFlowValue(["a"])).toEqual(["a"]);
    expect(toFlowValue([null, ""])).toBeNull();
    expect(toFlowValue([])).toBeNull();
    // A hole of a sparse list is no value either.
    const sparse: unknown[] = [];
    sparse[2] = "x";
    expect(toFlowValue(sparse)).toEqual(["x"]);
    expect(toFlowValue("")).toBeNull();
    expect(toFlowValue(Number.NaN)).toBeNull();
    const source = ["x", "y"];
    expect(toFlowValue(source)).not.toBe(source);
    expect(() => toFlowValue(["a", ["b"]])).toThrow(/cannot be an object/);
    expect(() => toFlowValue([{ a: 1 }])).toThrow(/cannot be an object/);
    expect(() => toFlowValue({ a: 1 })).toThrow(/cannot be an object/);
  });
});
