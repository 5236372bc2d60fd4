import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { contentHash } from "../../src/engine/hash.ts";
import { canonicalJson } from "../../src/util/canonical-json.ts";

// The definition every stored content hash was computed with: JSON.stringify of a key-sorted copy.
const reference = (value: unknown): string => JSON.stringify(sortKeys(value));
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

describe("canonical JSON", () => {
  const documents: unknown[] = [
    { sn: "Lovelace", givenName: "Ada", id: "E1" },
    { b: 1, a: -0, c: 1e21, d: 0.1, e: true, f: null, g: undefined },
    { mail: ["b@x", "a@x"], 'quo"te': 'tab\there "q"', ünï: "cødé ☃", empty: [] },
    { nested: { z: 1, a: [2, { y: 1, x: 2 }] }, when: new Date(0) },
    { arr: [1, undefined, null], nan: Number.NaN },
    [{ b: 1, a: 2 }, "x"],
    "text",
    42,
    null,
  ];
  it("gives exactly the string of the key-sorted copy, fast path or not", () => {
    for (const d of documents) expect(canonicalJson(d)).toBe(reference(d));
  });
  it("hashes equal documents with keys in any order alike", () => {
    expect(contentHash({ a: "1", b: ["x"] })).toBe(contentHash({ b: ["x"], a: "1" }));
    // Stored hashes stay valid: md5 of the canonical string, as before.
    expect(contentHash({ b: ["x"], a: "1" })).toBe(createHash("md5").update('{"a":"1","b":["x"]}').digest("hex"));
  });
});
