import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** AES-256-GCM for connector secrets at rest. */
export interface SecretBox {
  seal(values: Record<string, unknown>): string;
  open(sealed: string): Record<string, unknown>;
  /**
   * One secret attribute value (e.g. a directory's userPassword) as `sealed:v1....`. The same
   * value always seals to the same text (the IV is an HMAC of the value), so an unchanged
   * password does not look changed at every import; equal values are visibly equal, nothing more.
   */
  sealValue(value: string): string;
  openValue(sealed: string): string;
}

export const SEALED_PREFIX = "sealed:";

/** A value sealed by SecretBox.sealValue: stored, never shown. */
export const isSealedValue = (v: unknown): v is string => typeof v === "string" && v.startsWith(SEALED_PREFIX);

/** Password attributes of directories (hashes, or plaintext in sample and legacy data): kept only sealed. */
const SECRET_ATTRIBUTES = new Set(["userpassword", "unicodepwd", "sambantpassword", "sambalmpassword", "authpassword"]);

/** Every secret's name holds one of these (checked below): a test far cheaper than the exact one. */
const SECRET_NAME_PART = /pwd|password/i;
for (const name of SECRET_ATTRIBUTES) if (!SECRET_NAME_PART.test(name)) throw new Error(`${name} escapes SECRET_NAME_PART`);

/** Whether `name` (any case, with or without options like ";binary") is a directory secret. */
export const isDirectorySecret = (name: string): boolean =>
  SECRET_NAME_PART.test(name) && SECRET_ATTRIBUTES.has(name.toLowerCase().split(";")[0]!);

/**
 * Whether attributes given as JSON text may hold a directory secret: true whenever one is a key
 * (and when any text names a password), so a caller can skip parsing the text when it is false.
 */
export const mayHoldDirectorySecret = (attributesJson: string): boolean => SECRET_NAME_PART.test(attributesJson);

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error("the secret key must be 32 bytes");
  return {
    seal(values) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const body = Buffer.concat([cipher.update(JSON.stringify(values), "utf8"), cipher.final()]);
      return ["v1", iv.toString("base64"), cipher.getAuthTag().toString("base64"), body.toString("base64")].join(".");
    },
    sealValue(value) {
      const iv = createHmac("sha256", key).update("sealValue\0").update(value, "utf8").digest().subarray(0, 12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
      const parts = ["v1", iv.toString("base64"), cipher.getAuthTag().toString("base64"), body.toString("base64")];
      return `${SEALED_PREFIX}${parts.join(".")}`;
    },
    openValue(sealed) {
      const [version, iv, tag, body] = sealed.slice(SEALED_PREFIX.length).split(".");
      if (!sealed.startsWith(SEALED_PREFIX) || version !== "v1" || !iv || !tag || body === undefined)
        throw new Error("unreadable sealed value");
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"));
      decipher.setAuthTag(Buffer.from(tag, "base64"));
      return Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString("utf8");
    },
    open(sealed) {
      const [version, iv, tag, body] = sealed.split(".");
      if (version !== "v1" || !iv || !tag || !body) throw new Error("unreadable sealed secret");
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"));
      decipher.setAuthTag(Buffer.from(tag, "base64"));
      const plain = Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]);
      return JSON.parse(plain.toString("utf8")) as Record<string, unknown>;
    },
  };
}

/** METASYNC_SECRET_KEY (hex or base64), else DATA_DIR/secret.key, created on first use. */
export function loadSecretKey(configured: string | undefined, dataDir: string): Buffer {
  if (configured) {
    const key = /^[0-9a-f]{64}$/i.test(configured) ? Buffer.from(configured, "hex") : Buffer.from(configured, "base64");
    if (key.length !== 32) throw new Error("METASYNC_SECRET_KEY must be 32 bytes, hex or base64");
    return key;
  }
  const file = path.join(dataDir, "secret.key");
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, randomBytes(32).toString("hex"), { mode: 0o600, flag: "wx" });
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
    }
  }
  return Buffer.from(readFileSync(file, "utf8").trim(), "hex");
}
