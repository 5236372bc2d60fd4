import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Client } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExampleHarness, startExample } from "../../helpers/examples.ts";
import { applyHrToLdap, hrPersonDn, hrToLdapCycle } from "../../helpers/hr-to-ldap.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// examples/hr-csv-to-ldap.yaml as a user runs it, against a real slapd: people with managers,
// groups with members; then a joiner, a mover and a leaver.
let slapd: Slapd;
let h: ExampleHarness;

beforeAll(async () => {
  slapd = await startSlapd();
  h = await startExample("hr");
});
afterAll(async () => {
  await h?.stop();
  await slapd?.stop();
});

async function entries(ou: "people" | "groups") {
  const client = new Client({ url: slapd.url });
  try {
    await client.bind(slapd.bindDn, slapd.password);
    const { searchEntries } = await client.search(`ou=${ou},${slapd.baseDn}`, { scope: "one", filter: "(objectClass=*)" });
    return new Map(searchEntries.map((e) => [e.dn, e]));
  } finally {
    await client.unbind();
  }
}
const person = hrPersonDn;
const group = (id: string) => `cn=${id},ou=groups,dc=example,dc=org`;
const sorted = (v: unknown) => (Array.isArray(v) ? [...v].map(String).sort() : [String(v)]);

const cycle = () => hrToLdapCycle(h);

describe("examples/hr-csv-to-ldap.yaml", () => {
  it("applies, discovers and provisions people with managers and groups with members", async () => {
    const { applied, discovered } = await applyHrToLdap(h, slapd);
    expect(applied).toContain("7 created, 0 updated, 0 unchanged");
    expect(discovered).toMatch(/directory: group \(\d+ attributes\), person \(\d+ attributes\)/);

    const exported = await cycle();
    expect(exported).toMatchObject({ created: 7, failed: 0 });
    // What the export created reads back as connector space expected it (objectClass, lists of
    // one value and all): the confirming import writes nothing again.
    expect(exported.confirming).toMatchObject({ unchanged: 7, updated: 0, failed: 0 });
    const people = await entries("people");
    expect([...people.keys()].sort()).toEqual(["E1001", "E1002", "E1003", "E1004", "E1005"].map(person));
    expect(people.get(person("E1002"))).toMatchObject({
      uid: "alan.turing",
      cn: "Alan Turing",
      title: "Engineer",
      mail: "alan.turing@example.org",
      departmentNumber: "Engineering",
      manager: person("E1001"),
    });
    expect(people.get(person("E1001"))?.manager).toBeUndefined();
    const groups = await entries("groups");
    expect(sorted(groups.get(group("engineering"))?.member)).toEqual(["E1001", "E1002", "E1003"].map(person));
    expect(sorted(groups.get(group("finance"))?.member)).toEqual(["E1004", "E1005"].map(person));
    expect(groups.get(group("finance"))?.description).toBe("Everyone in Finance");

    // The confirming import found every export applied: nothing is left open.
    const open = await h.services.db.prisma.pendingExport.count({ where: { status: { not: "CONFIRMED" } } });
    expect(open).toBe(0);
  });

  it("creates a joiner, updates a mover in place and deletes a leaver (WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS + DELETE)", async () => {
    const peopleCsv = path.join(h.files, "people.csv");
    const rows = readFileSync(peopleCsv, "utf8")
      .trimEnd()
      .split("\n")
      // Leaver: Alan Turing's row is gone. Mover: Grace Hopper moves to Finance under Dorothy Vaughan.
      .filter((l) => !l.startsWith("E1002,"))
      .map((l) => (l.startsWith("E1003,") ? "E1003,Grace,Hopper,Analyst,Finance,E1005,grace.hopper@example.org" : l));
    rows.push("E1006,Mary,Jackson,Engineer,Engineering,E1001,mary.jackson@example.org");
    writeFileSync(peopleCsv, `${rows.join("\n")}\n`);
    writeFileSync(
      path.join(h.files, "groups.csv"),
      "groupId,description,members\nengineering,Everyone in Engineering,E1001|E1006\nfinance,Everyone in Finance,E1003|E1004|E1005\n",
    );

    const exported = await cycle();
    expect(exported).toMatchObject({ created: 1, deleted: 1, failed: 0 });
    expect(exported.confirming).toMatchObject({ unchanged: 7, updated: 0, failed: 0 });
    const people = await entries("people");
    expect([...people.keys()].sort()).toEqual(["E1001", "E1003", "E1004", "E1005", "E1006"].map(person));
    expect(people.get(person("E1003"))).toMatchObject({
      uid: "grace.hopper",
      title: "Analyst",
      departmentNumber: "Finance",
      manager: person("E1005"),
    });
    expect(people.get(person("E1006"))).toMatchObject({ uid: "mary.jackson", manager: person("E1001") });
    const groups = await entries("groups");
    expect(sorted(groups.get(group("engineering"))?.member)).toEqual(["E1001", "E1006"].map(person));
    expect(sorted(groups.get(group("finance"))?.member)).toEqual(["E1003", "E1004", "E1005"].map(person));
    const open = await h.services.db.prisma.pendingExport.count({ where: { status: { not: "CONFIRMED" } } });
    expect(open).toBe(0);
  });
});
