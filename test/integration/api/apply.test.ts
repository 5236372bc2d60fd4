import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { applyCommand } from "../../../src/cli/apply.ts";
import type { Services } from "../../../src/services.ts";
import { runCli } from "../../helpers/cli.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

let services: Services;
const dir = mkdtempSync(path.join(tmpdir(), "metasync-apply-"));
// The CLI child and this process must read each other's secrets: one key for both.
const secretKey = randomBytes(32).toString("hex");
beforeAll(async () => {
  services = await createTestServices({ secretKey });
});
afterAll(() => closeTestServices(services));

const DOC = `
connectedSystems:
  - name: hr
    kind: CSV
    config: { path: /data/hr.csv, anchor: employeeId }
  - name: corp-ldap
    kind: LDAP
    deleteThreshold: 20
    config:
      url: ldap://127.0.0.1:1389
      bindDn: cn=admin,dc=example,dc=org
      bindPassword: \${APPLY_TEST_PASSWORD}
      baseDn: dc=example,dc=org
syncRules:
  - name: hr-in
    connectedSystem: hr
    direction: INBOUND
    objectType: person
    metaverseObjectType: person
    projectToMetaverse: true
    joinRules: [{ source: employeeId, metaverseAttribute: employeeId }]
    attributeFlows:
      - { target: employeeId, source: employeeId }
      - { target: displayName, expression: 'givenName & " " & sn' }
  - name: ldap-out
    connectedSystem: corp-ldap
    direction: OUTBOUND
    objectType: inetOrgPerson
    metaverseObjectType: person
    provisionToConnector: true
    deprovision: DELETE
    attributeFlows:
      - { target: dn, expression: '"uid=" & employeeId & ",ou=people,dc=example,dc=org"' }
      - { target: cn, source: displayName }
`;

/** applyCommand in-process, its console output captured. */
async function applyInProcess(file: string): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a) => void lines.push(a.join(" ")));
  const err = vi.spyOn(console, "error").mockImplementation((...a) => void lines.push(a.join(" ")));
  try {
    const code = await applyCommand(services, [file]);
    return { code, out: lines.join("\n") };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe("metasync apply", () => {
  it("creates everything, then a second apply changes nothing; a changed value is one update", async () => {
    const file = path.join(dir, "metasync.yaml");
    writeFileSync(file, DOC);
    const env = {
      DATABASE_URL: services.db.url,
      LOG_LEVEL: "warn",
      APPLY_TEST_PASSWORD: "s3cret",
      METASYNC_SECRET_KEY: secretKey,
      DATA_DIR: dir,
    };
    const first = runCli(["apply", file], env);
    expect(await first.exit).toBe(0);
    expect(first.output()).toContain("connected system hr: created");
    expect(first.output()).toContain("sync rule ldap-out: created");
    expect(first.output()).toContain("4 created, 0 updated, 0 unchanged");
    const ldap = await services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "corp-ldap" } });
    const settings = await services.systems.currentSettings(ldap);
    expect(JSON.stringify(settings.config)).not.toContain("s3cret");

    // The same file again (in-process: one CLI start per test file keeps it fast).
    process.env.APPLY_TEST_PASSWORD = "s3cret";
    const second = await applyInProcess(file);
    expect(second.code).toBe(0);
    expect(second.out).toContain("0 created, 0 updated, 4 unchanged");
    const again = await services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "corp-ldap" } });
    expect(again.currentSettingsVersion).toBe(1);
    expect(again.updatedAt).toEqual(ldap.updatedAt);

    writeFileSync(
      file,
      DOC.replace("precedence: 10", "").replace("projectToMetaverse: true", "projectToMetaverse: true\n    precedence: 5"),
    );
    const third = await applyInProcess(file);
    expect(third.code).toBe(0);
    expect(third.out).toContain("sync rule hr-in: updated");
    expect(third.out).toContain("0 created, 1 updated, 3 unchanged");
    expect((await services.db.prisma.syncRule.findUniqueOrThrow({ where: { name: "hr-in" } })).precedence).toBe(5);
  });

  it("validates every rule before writing anything and names the entry and position", async () => {
    const file = path.join(dir, "broken.yaml");
    writeFileSync(
      file,
      `connectedSystems:
  - { name: new-sys, kind: CSV, config: { path: /data/x.csv, anchor: id } }
syncRules:
  - name: broken
    connectedSystem: new-sys
    direction: INBOUND
    objectType: person
    metaverseObjectType: person
    attributeFlows: [{ target: cn, expression: '$uppercase(givenName' }]
`,
    );
    const r = await applyInProcess(file);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/syncRules\[0\] "broken": attributeFlows\[0\]\.expression: invalid JSONata at position \d+/);
    expect(await services.db.prisma.connectedSystem.count({ where: { name: "new-sys" } })).toBe(0);

    writeFileSync(file, "connectedSystems:\n  - { name: x, kind: FTP, config: {} }\n");
    const kind = await applyInProcess(file);
    expect(kind.code).toBe(2);
    expect(kind.out).toContain("connectedSystems[0].kind");
    writeFileSync(
      file,
      "syncRules:\n  - { name: y, connectedSystem: nowhere, direction: INBOUND, objectType: p, metaverseObjectType: p }\n",
    );
    const orphan = await applyInProcess(file);
    expect(orphan.out).toContain('connectedSystem "nowhere" is neither in this file nor in the database');
  });

  it("lists every problem of a document at once, each with its path", async () => {
    const file = path.join(dir, "problems.yaml");
    // A system config missing two keys with one of the wrong type: one error naming all three.
    writeFileSync(
      file,
      `connectedSystems:
  - { name: three-problems, kind: LDAP, config: { url: "ldap://127.0.0.1:1389", bindPassword: x, pageSize: lots } }
`,
    );
    const config = await applyInProcess(file);
    expect(config.code).toBe(2);
    expect(config.out).toContain('connectedSystems[0] "three-problems": invalid LDAP config, 3 problems:');
    for (const p of [
      "config.bindDn: is required",
      "config.baseDn: is required",
      "config.pageSize: Invalid input: expected number",
    ])
      expect(config.out).toContain(p);
    // Shape problems in different entries of the document, also in one answer.
    writeFileSync(
      file,
      `connectedSystems:
  - { name: a, kind: FTP, config: {} }
syncRules:
  - { name: r, connectedSystem: a, direction: SIDEWAYS, objectType: p, metaverseObjectType: p }
schedules:
  - { name: s, cron: "* * * * *", steps: [] }
`,
    );
    const shape = await applyInProcess(file);
    expect(shape.code).toBe(2);
    expect(shape.out).toContain("3 problems");
    for (const p of ["connectedSystems[0].kind", "syncRules[0].direction", "schedules[0].steps"]) expect(shape.out).toContain(p);
    expect(await services.db.prisma.connectedSystem.count({ where: { name: { in: ["a", "three-problems"] } } })).toBe(0);
  });
});
