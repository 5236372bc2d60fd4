import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Connector, ConnectorObject, ImportPage } from "../../src/connectors/connector.ts";
import { sealSecretAttributes, unsealChanges, withSealedSecrets } from "../../src/connectors/sealed-secrets.ts";
import { createSecretBox, isDirectorySecret } from "../../src/secrets.ts";

const box = createSecretBox(randomBytes(32));
const seal = (v: string) => box.sealValue(v);

/** An object whose attributes are parsed from JSON on first read, as the CSV connector's are. */
function lazyObject(anchor: string, attributes: Record<string, unknown>): ConnectorObject & { parsed: boolean } {
  const json = JSON.stringify(attributes);
  return {
    objectType: "person",
    anchor,
    contentHash: "hash-of-clear",
    attributesJson: json,
    parsed: false,
    get attributes() {
      this.parsed = true;
      return JSON.parse(json);
    },
  };
}

function importing(objects: ConnectorObject[]): Connector {
  return {
    capabilities: { fullImport: true, deltaImport: true, export: true, schemaDiscovery: false, rename: false },
    testConnection: async () => ({ message: "ok" }),
    discoverSchema: async () => ({ objectTypes: [] }),
    async *importFull(): AsyncIterable<ImportPage> {
      yield { objects, deletes: [], errors: [], checkpoint: null };
    },
    async *importDelta(): AsyncIterable<ImportPage> {},
    export: async () => [],
    close: async () => {},
  };
}

async function imported(connector: Connector) {
  const objects: ConnectorObject[] = [];
  for await (const page of connector.importFull(null, {
    storedHashes: async () => new Map(),
    storedAnchors: async function* () {},
  }))
    objects.push(...page.objects);
  return objects;
}

describe("secrets sealed on import", () => {
  it("seals every value of a secret attribute, any case, a sealed-looking or non-string one included", () => {
    const copied = seal("hidden");
    const sealed = sealSecretAttributes({ cn: copied, USERPASSWORD: ["a", copied], "unicodePwd;binary": 42 }, seal)!;
    expect(sealed.cn).toBe(copied);
    const [a, b] = sealed.USERPASSWORD as string[];
    expect(box.openValue(a!)).toBe("a");
    expect(box.openValue(b!)).toBe(copied);
    expect(box.openValue(sealed["unicodePwd;binary"] as string)).toBe("42");
    expect(sealSecretAttributes({ cn: "x" }, seal)).toBeNull();
  });

  it("leaves an object without secrets untouched and unparsed; rehashes one with secrets; drops them without a sealer", async () => {
    const plain = lazyObject("E1", { cn: "Ann", description: "Ann's account" });
    const secret = lazyObject("E2", { cn: "Bob", userPassword: "pw" });
    const [first, second] = await imported(withSealedSecrets(importing([plain, secret]), { seal, opens: isDirectorySecret }));
    expect(first).toBe(plain);
    expect(plain.parsed).toBe(false);
    expect(second).not.toHaveProperty("contentHash");
    expect(second).not.toHaveProperty("attributesJson");
    expect(box.openValue(second!.attributes.userPassword as string)).toBe("pw");

    const [, dropped] = await imported(
      withSealedSecrets(importing([plain, lazyObject("E2", { cn: "Bob", userPassword: "pw" })]), { opens: isDirectorySecret }),
    );
    expect(dropped!.attributes).toEqual({ cn: "Bob" });
  });
});

describe("secrets opened on export to a directory", () => {
  it("opens sealed values of secret attributes only", () => {
    const sealed = seal("{SSHA}x");
    const { ready } = unsealChanges(
      [
        {
          id: "1",
          changeType: "CREATE",
          objectType: "person",
          attributes: [
            { attribute: "userPassword", operation: "REPLACE", values: [sealed] },
            { attribute: "description", operation: "REPLACE", values: [sealed] },
          ],
        },
      ],
      (v) => box.openValue(v),
      isDirectorySecret,
    );
    expect(ready[0]!.attributes.map((a) => a.values[0])).toEqual(["{SSHA}x", sealed]);
  });

  it("refuses a change whose sealed secret does not open (altered, or another key's), and sends the others", () => {
    const foreign = createSecretBox(randomBytes(32)).sealValue("{SSHA}y");
    // One character of the ciphertext changed, as an expression might: its tag no longer matches.
    const altered = (v: string) => {
      const at = v.lastIndexOf(".") + 2;
      return v.slice(0, at) + (v[at] === "A" ? "B" : "A") + v.slice(at + 1);
    };
    const change = (id: string, value: string) => ({
      id,
      changeType: "UPDATE" as const,
      objectType: "person",
      attributes: [{ attribute: "userPassword", operation: "REPLACE" as const, values: [value] }],
    });
    const { ready, refused } = unsealChanges(
      [change("1", foreign), change("2", seal("{SSHA}z")), change("3", altered(seal("{SSHA}w")))],
      (v) => box.openValue(v),
      isDirectorySecret,
    );
    expect(ready.map((c) => [c.id, c.attributes[0]!.values[0]])).toEqual([["2", "{SSHA}z"]]);
    expect(refused.map((r) => r.id)).toEqual(["1", "3"]);
    expect(refused[0]).toMatchObject({ status: "PERMANENT_FAILURE", code: "INVALID_INPUT" });
    expect(refused[0]).toHaveProperty("message", expect.stringContaining("userPassword"));
  });
});
