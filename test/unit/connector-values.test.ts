import { describe, expect, it } from "vitest";
import { applyAttributeChanges } from "../../src/connectors/attribute-changes.ts";
import type { ConnectorError } from "../../src/connectors/connector.ts";
import { contentHash } from "../../src/connectors/content-hash.ts";

describe("contentHash", () => {
  it("is the md5 of the canonical JSON: key order does not matter, values and value order do", () => {
    const a = contentHash({ name: "Ann", groups: ["a", "b"], age: 3 });
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(contentHash({ age: 3, groups: ["a", "b"], name: "Ann" })).toBe(a);
    expect(contentHash({ age: 3, groups: ["b", "a"], name: "Ann" })).not.toBe(a);
    expect(contentHash({ age: "3", groups: ["a", "b"], name: "Ann" })).not.toBe(a);
    // md5('{"a":"x"}')
    expect(contentHash({ a: "x" })).toBe("8fd817243634b144f70a61aca7dfe389");
  });
});

describe("applyAttributeChanges", () => {
  const multi = (name: string) => name === "groups";

  it("applies ADD, REMOVE, REPLACE and REMOVE_ALL; an attribute left without values is absent", () => {
    const next = applyAttributeChanges(
      { name: "Ann", mail: "a@x", groups: ["a", "b"] },
      [
        { attribute: "groups", operation: "ADD", values: ["b", "c"] },
        { attribute: "groups", operation: "REMOVE", values: ["a"] },
        { attribute: "mail", operation: "REMOVE_ALL", values: [] },
        { attribute: "name", operation: "REPLACE", values: ["Bea"] },
        { attribute: "title", operation: "ADD", values: ["Dr"] },
      ],
      multi,
    );
    expect(next).toEqual({ name: "Bea", groups: ["b", "c"], title: "Dr" });
    expect(
      applyAttributeChanges({ groups: ["a"] }, [{ attribute: "groups", operation: "REMOVE", values: ["a"] }], multi),
    ).toEqual({});
  });

  it("refuses a second value for a single-valued attribute", () => {
    expect(() =>
      applyAttributeChanges({ name: "Ann" }, [{ attribute: "name", operation: "ADD", values: ["Bea"] }], multi),
    ).toThrow(expect.objectContaining({ code: "SCHEMA_VIOLATION" }) as unknown as ConnectorError);
  });
});
