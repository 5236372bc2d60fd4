import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSecretBox } from "../../src/secrets.ts";

describe("secret box", () => {
  it("round-trips and refuses tampered or foreign ciphertext", () => {
    const box = createSecretBox(randomBytes(32));
    const sealed = box.seal({ bindPassword: "pw" });
    expect(sealed).not.toContain("pw");
    expect(box.open(sealed)).toEqual({ bindPassword: "pw" });
    const parts = sealed.split(".");
    parts[3] = Buffer.from("tampered").toString("base64");
    expect(() => box.open(parts.join("."))).toThrow();
    expect(() => createSecretBox(randomBytes(32)).open(sealed)).toThrow();
  });
});
