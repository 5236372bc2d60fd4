import path from "node:path";
import { Attribute, Change, Client } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLES, type ExampleHarness, startExample } from "../../helpers/examples.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// examples/ldap-to-ldap.yaml from OpenLDAP's sample directory to a second real slapd.
let source: Slapd;
let target: Slapd;
let h: ExampleHarness;
let env: Record<string, string>;

beforeAll(async () => {
  [source, target] = await Promise.all([startSlapd({ sample: "openldap" }), startSlapd()]);
  h = await startExample(null);
  env = {
    SOURCE_LDAP_PORT: String(source.port),
    SOURCE_BIND_DN: source.bindDn,
    SOURCE_BIND_PASSWORD: source.password,
    TARGET_LDAP_PORT: String(target.port),
    TARGET_BIND_PASSWORD: target.password,
  };
});
afterAll(async () => {
  await h?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
});

async function withClient<T>(ldap: Slapd, use: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: ldap.url });
  try {
    await client.bind(ldap.bindDn, ldap.password);
    return await use(client);
  } finally {
    await client.unbind();
  }
}
const targetPeople = () =>
  withClient(target, async (c) => {
    const { searchEntries } = await c.search(`ou=people,${target.baseDn}`, { scope: "one", filter: "(objectClass=*)" });
    return new Map(searchEntries.map((e) => [String(e.uid), e]));
  });

async function cycle() {
  await h.run("source-directory", "FULL_IMPORT");
  await h.run("source-directory", "DELTA_SYNC");
  const exported = await h.run("target-directory", "EXPORT");
  await h.run("target-directory", "FULL_IMPORT");
  return exported;
}

describe("examples/ldap-to-ldap.yaml", () => {
  it("copies the source's people to the target, then follows a mover and a leaver", async () => {
    expect(await h.cli(["apply", path.join(EXAMPLES, "ldap-to-ldap.yaml")], env)).toContain("4 created");
    await h.cli(["systems", "discover", "source-directory", "target-directory"], env);

    expect(await cycle()).toMatchObject({ created: 10, failed: 0 });
    const copied = await targetPeople();
    expect(copied.size).toBe(10);
    expect(copied.get("bjensen")).toMatchObject({
      dn: "uid=bjensen,ou=people,dc=example,dc=org",
      cn: ["Barbara Jensen", "Babs Jensen"],
      title: "Mythical Manager, Research Systems",
      mail: "bjensen@mailgw.example.com",
    });

    // Mover: Barbara Jensen moves to the Alumni Association with a new title. Leaver: Jane Doe.
    await withClient(source, async (c) => {
      const babs = "cn=Barbara Jensen,ou=Information Technology Division,ou=People,dc=example,dc=com";
      await c.modify(babs, [
        new Change({ operation: "replace", modification: new Attribute({ type: "title", values: ["Alumni Liaison"] }) }),
      ]);
      await c.modifyDN(babs, "cn=Barbara Jensen,ou=Alumni Association,ou=People,dc=example,dc=com");
      await c.del("cn=Jane Doe,ou=Alumni Association,ou=People,dc=example,dc=com");
    });
    expect(await cycle()).toMatchObject({ updated: 1, deleted: 1, failed: 0 });
    const after = await targetPeople();
    expect(after.size).toBe(9);
    expect(after.has("jdoe")).toBe(false);
    expect(after.get("bjensen")).toMatchObject({ dn: "uid=bjensen,ou=people,dc=example,dc=org", title: "Alumni Liaison" });
    const open = await h.services.db.prisma.pendingExport.count({ where: { status: { not: "CONFIRMED" } } });
    expect(open).toBe(0);
  });
});
