import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLES, type ExampleHarness, startExample } from "../../helpers/examples.ts";
import { type ScimServer, startScimServer } from "../../helpers/scim-server.ts";

// examples/hr-csv-to-scim.yaml as a user runs it, against a real SCIM 2.0 service (scimmy):
// users with their manager and groups with members; then a joiner, a mover and a leaver.
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
let scim: ScimServer;
let h: ExampleHarness;
let env: Record<string, string>;

beforeAll(async () => {
  scim = await startScimServer();
  h = await startExample("hr");
  const url = new URL(scim.baseUrl);
  env = {
    HR_DIR: h.files,
    SCIM_SCHEME: "http",
    SCIM_HOST: url.hostname,
    SCIM_PORT: url.port,
    SCIM_PATH: url.pathname.slice(1),
    SCIM_TOKEN: scim.token,
  };
});
afterAll(async () => {
  await h?.stop();
  await scim?.stop();
});

async function cycle() {
  await h.run("hr-people", "FULL_IMPORT");
  await h.run("hr-groups", "FULL_IMPORT");
  await h.run("hr-people", "DELTA_SYNC");
  await h.run("hr-groups", "DELTA_SYNC");
  const exported = await h.run("saas", "EXPORT");
  await h.run("saas", "FULL_IMPORT");
  return exported;
}
const user = (employee: string) => [...scim.users.values()].find((u) => u.externalId === employee);
const members = (group: string) =>
  (([...scim.groups.values()].find((g) => g.displayName === group)?.members as { value: string }[]) ?? [])
    .map((m) => String(scim.users.get(m.value)?.externalId))
    .sort();

describe("examples/hr-csv-to-scim.yaml", () => {
  it("applies, discovers and provisions users with their manager and groups with members", async () => {
    const applied = await h.cli(["apply", path.join(EXAMPLES, "hr-csv-to-scim.yaml")], env);
    expect(applied).toContain("7 created, 0 updated, 0 unchanged");
    const discovered = await h.cli(["systems", "discover", "hr-people", "hr-groups", "saas"], env);
    expect(discovered).toMatch(/saas: group \(\d+ attributes\), person \(\d+ attributes\)/);

    const exported = await cycle();
    expect(exported).toMatchObject({ created: 7, failed: 0 });
    expect(scim.users.size).toBe(5);
    expect(user("E1002")).toMatchObject({
      userName: "alan.turing@example.org",
      name: { givenName: "Alan", familyName: "Turing" },
      displayName: "Alan Turing",
      title: "Engineer",
      emails: [{ type: "work", value: "alan.turing@example.org" }],
      active: true,
      [ENTERPRISE]: { department: "Engineering", employeeNumber: "E1002", manager: { value: user("E1001")?.id } },
    });
    expect(members("engineering")).toEqual(["E1001", "E1002", "E1003"]);
    expect(members("finance")).toEqual(["E1004", "E1005"]);
    const open = await h.services.db.prisma.pendingExport.count({ where: { status: { not: "CONFIRMED" } } });
    expect(open).toBe(0);
  });

  it("creates a joiner, updates a mover by PATCH and deactivates a leaver", async () => {
    const peopleCsv = path.join(h.files, "people.csv");
    const rows = readFileSync(peopleCsv, "utf8")
      .trimEnd()
      .split("\n")
      .filter((l) => !l.startsWith("E1002,"))
      .map((l) => (l.startsWith("E1003,") ? "E1003,Grace,Hopper,Analyst,Finance,E1005,grace.hopper@example.org" : l));
    rows.push("E1006,Mary,Jackson,Engineer,Engineering,E1001,mary.jackson@example.org");
    writeFileSync(peopleCsv, `${rows.join("\n")}\n`);
    writeFileSync(
      path.join(h.files, "groups.csv"),
      "groupId,description,members\nengineering,Everyone in Engineering,E1001|E1006\nfinance,Everyone in Finance,E1003|E1004|E1005\n",
    );
    const grace = user("E1003")?.id;
    const exported = await cycle();
    expect(exported).toMatchObject({ created: 1, failed: 0 });
    expect(user("E1003")).toMatchObject({
      id: grace,
      title: "Analyst",
      [ENTERPRISE]: { department: "Finance", manager: { value: user("E1005")?.id } },
    });
    expect(user("E1006")).toMatchObject({ userName: "mary.jackson@example.org", active: true });
    // The leaver is deactivated now; its DELETE waits for the grace period.
    expect(user("E1002")).toMatchObject({ active: false });
    expect(members("engineering")).toEqual(["E1001", "E1006"]);
    expect(members("finance")).toEqual(["E1003", "E1004", "E1005"]);
  });
});
