import { describe, expect, it } from "vitest";
import { DEDUPE_MATCHES, DeduplicationSchema } from "../../src/engine/rule-config.ts";
import { DEDUPE_MATCHERS } from "../../src/engine/sync/dedupe.ts";
import { dedupeSpec, keysFor, normaliseKey, similarity, soundex } from "../../src/engine/sync/keys.ts";

describe("dedupe keys", () => {
  it("Soundex codes names that sound alike the same (American Soundex)", () => {
    expect(soundex("Robert")).toBe("R163");
    expect(soundex("Rupert")).toBe("R163");
    expect(soundex("Rubin")).toBe("R150");
    expect(soundex("Ashcraft")).toBe("A261"); // H does not separate the two S/C codes
    expect(soundex("Tymczak")).toBe("T522"); // a vowel does
    expect(soundex("Pfister")).toBe("P236");
    expect(soundex("Lee")).toBe("L000");
    expect(soundex("  o'Brien ")).toBe("O165");
    expect(soundex("123")).toBe("");
  });

  it("similarity is 1 - Levenshtein distance / longer length, case and spaces ignored", () => {
    expect(similarity("Jensen", " jensen ")).toBe(1);
    expect(similarity("kitten", "sitting")).toBeCloseTo(1 - 3 / 7);
    expect(similarity("Barbara", "Barbra")).toBeCloseTo(1 - 1 / 7);
    expect(similarity("", "x")).toBe(0);
    expect(similarity("abc", "xyz")).toBe(0);
  });

  it("each match kind stores its own key and matches by it", () => {
    expect(dedupeSpec("exact", "mail")).toMatchObject({ keyName: "mail" });
    expect(dedupeSpec("phonetic", "sn")).toMatchObject({ keyName: "~soundex:sn" });
    expect(dedupeSpec("fuzzy", "sn")).toMatchObject({ keyName: "~prefix:sn" });
    expect(
      keysFor([dedupeSpec("phonetic", "sn"), dedupeSpec("fuzzy", "sn"), dedupeSpec("exact", "mail")], {
        sn: "Jensen",
        mail: [" BJensen@Example.com", "b@x"],
      }),
    ).toEqual([
      { attribute: "~soundex:sn", value: "J525" },
      { attribute: "~prefix:sn", value: "je" },
      { attribute: "mail", value: "bjensen@example.com" },
      { attribute: "mail", value: "b@x" },
    ]);
    expect(normaliseKey(" A@X ")).toBe("a@x");

    expect(DEDUPE_MATCHERS.exact("A@x", "a@X ", 0.9)).toBe(true);
    expect(DEDUPE_MATCHERS.phonetic("Robert", "Rupert", 0.9)).toBe(true);
    expect(DEDUPE_MATCHERS.phonetic("", "", 0.9)).toBe(false);
    expect(DEDUPE_MATCHERS.fuzzy("Barbara", "Barbra", 0.85)).toBe(true);
    expect(DEDUPE_MATCHERS.fuzzy("Barbara", "Barbra", 0.9)).toBe(false);
  });

  it("validation accepts exactly the match kinds the engine implements", () => {
    expect(Object.keys(DEDUPE_MATCHERS).sort()).toEqual([...DEDUPE_MATCHES].sort());
    expect(DeduplicationSchema.safeParse({ keys: ["sn"], match: "metaphone" }).success).toBe(false);
    expect(DeduplicationSchema.parse({ keys: ["sn"] })).toEqual({
      keys: ["sn"],
      match: "exact",
      threshold: 0.9,
      strategy: "keep_first",
    });
  });
});
