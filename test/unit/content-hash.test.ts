import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { contentHash } from "../../src/connectors/content-hash.ts";

describe("content hash", () => {
  it("hashes equal documents with keys in any order alike, as md5 of the key-sorted JSON (stored hashes stay valid)", () => {
    expect(contentHash({ b: ["x"], a: "1" })).toBe(contentHash({ a: "1", b: ["x"] }));
    expect(contentHash({ b: ["x"], a: "1" })).toBe(createHash("md5").update('{"a":"1","b":["x"]}').digest("hex"));
  });
});
