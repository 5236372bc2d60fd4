import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { contentHash, contentHashOfJson } from "../../src/connectors/content-hash.ts";

describe("content hash", () => {
  it("hashes equal documents with keys in any order alike, as md5 of the key-sorted JSON (stored hashes stay valid)", () => {
    expect(contentHash({ b: ["x"], a: "1" })).toBe(contentHash({ a: "1", b: ["x"] }));
    expect(contentHash({ b: ["x"], a: "1" })).toBe(createHash("md5").update('{"a":"1","b":["x"]}').digest("hex"));
  });

  it("counts an attribute named __proto__ like any other, as the CSV reader's JSON does", () => {
    const json = '{"__proto__":"x","name":"P"}';
    const attributes = JSON.parse(json);
    expect(contentHash(attributes)).toBe(contentHashOfJson(json));
    expect(contentHash(attributes)).not.toBe(contentHash({ name: "P" }));
    expect(Object.prototype).not.toHaveProperty("x");
  });
});
