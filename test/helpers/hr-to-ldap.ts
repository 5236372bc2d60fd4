import path from "node:path";
import { Client } from "ldapts";
import { EXAMPLES, type ExampleHarness } from "./examples.ts";
import type { Slapd } from "./slapd.ts";

/** The environment examples/hr-csv-to-ldap.yaml reads, for this harness and slapd. */
export const hrToLdapEnv = (h: ExampleHarness, slapd: Slapd) => ({
  HR_DIR: h.files,
  LDAP_PORT: String(slapd.port),
  LDAP_BIND_PASSWORD: slapd.password,
});

/** examples/hr-csv-to-ldap.yaml applied and its systems discovered, as a user does with the CLI. */
export async function applyHrToLdap(h: ExampleHarness, slapd: Slapd): Promise<{ applied: string; discovered: string }> {
  const env = hrToLdapEnv(h, slapd);
  const applied = await h.cli(["apply", path.join(EXAMPLES, "hr-csv-to-ldap.yaml")], env);
  const discovered = await h.cli(["systems", "discover", "hr-people", "hr-groups", "directory"], env);
  return { applied, discovered };
}

/** One whole cycle of the example: both HR imports, their syncs, the export and its confirming import. */
export async function hrToLdapCycle(h: ExampleHarness) {
  await h.run("hr-people", "FULL_IMPORT");
  await h.run("hr-groups", "FULL_IMPORT");
  await h.run("hr-people", "DELTA_SYNC");
  await h.run("hr-groups", "DELTA_SYNC");
  const exported = await h.run("directory", "EXPORT");
  // The export's counts, with those of the import that confirms it.
  return { ...exported, confirming: await h.run("directory", "FULL_IMPORT") };
}

/** The example's DN of a person. */
export const hrPersonDn = (id: string) => `employeeNumber=${id},ou=people,dc=example,dc=org`;

/** The entry at `dn` in the slapd, or null when there is none. */
export async function ldapEntry(slapd: Slapd, dn: string) {
  const client = new Client({ url: slapd.url });
  try {
    await client.bind(slapd.bindDn, slapd.password);
    const { searchEntries } = await client.search(dn, { scope: "base" });
    return searchEntries[0] ?? null;
  } catch {
    return null; // noSuchObject
  } finally {
    await client.unbind();
  }
}
