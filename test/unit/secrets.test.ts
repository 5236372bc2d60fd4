import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSecretBox } from "../../src/secrets.ts";

describe("secret box", () => {
  it("round-trips and refuses tampered or foreign ciphertext", () => {
    const box = createSecretBox(randomBytes(32));
    const sealed = box.seal({ bindPassword: "correct horse battery staple" });
    // A long plaintext cannot appear in base64 ciphertext by chance (a two-letter one could).
    expect(sealed).not.toContain("correct horse");
    expect(box.open(sealed)).toEqual({ bindPassword: "correct horse battery staple" });
    const parts = sealed.split(".");
    parts[3] = Buffer.from("tampered").toString("base64");
    expect(() => box.open(parts.join("."))).toThrow();
    expect(() => createSecretBox(randomBytes(32)).open(sealed)).toThrow();
  });
});

describe("sealed attribute values", () => {
  it("seal to the same text for the same value, open back, and fail under another key", () => {
    const box = createSecretBox(randomBytes(32));
    const sealed = box.sealValue("{SSHA}abc");
    expect(sealed).toMatch(/^sealed:v1\./);
    expect(sealed).not.toContain("abc");
    expect(box.sealValue("{SSHA}abc")).toBe(sealed);
    expect(box.sealValue("{SSHA}abd")).not.toBe(sealed);
    expect(box.openValue(sealed)).toBe("{SSHA}abc");
    expect(() => createSecretBox(randomBytes(32)).openValue(sealed)).toThrow();
  });
});
