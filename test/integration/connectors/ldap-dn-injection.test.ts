import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dnEquals, parseDn } from "../../../src/connectors/ldap/dn.ts";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, createDiscoveredSystem, ok, REFRESH, rawId, runToEnd } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// Names that are DN syntax: provisioned through the product (HR CSV -> sync -> LDAP export) they
// must land verbatim, as one RDN under the intended parent, and a DN computed outside the
// system's base DN is refused for that one identity.
let app: TestApp;
let worker: WorkerHandle;
let slapd: Slapd;
const ids: Record<string, string> = {};
const dir = mkdtempSync(path.join(tmpdir(), "metasync-dn-"));
const hrFile = path.join(dir, "hr.csv");

const csv = (v: string) => `"${v.replaceAll('"', '""')}"`;
const PEOPLE = [
  { employeeId: "E1", givenName: "z+uid=injected", sn: "Doe", department: "staff" },
  { employeeId: "E2", givenName: "evil,ou=sub", sn: "Roe", department: "staff" },
  { employeeId: "E3", givenName: "Tom", sn: "trail\\", department: "staff" },
  { employeeId: "E4", givenName: '#"q"<a>;b', sn: "x=y", department: "staff" },
  { employeeId: "E5", givenName: "Out", sn: "Side", department: "contractor" },
];

async function entries() {
  const client = new Client({ url: slapd.url });
  try {
    await client.bind(slapd.bindDn, slapd.password);
    const { searchEntries } = await client.search(slapd.baseDn, {
      scope: "sub",
      filter: "(objectClass=inetOrgPerson)",
      attributes: ["cn", "uid", "givenName", "sn"],
    });
    return searchEntries;
  } finally {
    await client.unbind();
  }
}

beforeAll(async () => {
  slapd = await startSlapd();
  writeFileSync(
    hrFile,
    [
      "employeeId,givenName,sn,department",
      ...PEOPLE.map((p) => [p.employeeId, p.givenName, p.sn, p.department].map(csv).join(",")),
    ].join("\n"),
  );
  const services = await createTestServices({}, { runOptions: FAST_RUN_OPTIONS });
  app = await startTestApp(services);
  worker = await startWorker({ services, executors: defaultExecutors, scheduler: false });
  const system = (input: Record<string, unknown>) => createDiscoveredSystem(app, input);
  ids.hr = await system({ name: "hr", kind: "CSV", config: { path: hrFile, anchor: "employeeId", objectType: "person" } });
  ids.ldap = await system({
    name: "directory",
    kind: "LDAP",
    config: {
      url: slapd.url,
      bindDn: slapd.bindDn,
      bindPassword: slapd.password,
      baseDn: `ou=people,${slapd.baseDn}`,
      objectClasses: ["inetOrgPerson"],
      objectType: "person",
    },
  });
  const rule = (i: Record<string, unknown>) => ok(app, CREATE_RULE, { i });
  await rule({
    name: "hr-people",
    connectedSystemId: ids.hr,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
    attributeFlows: ["employeeId", "givenName", "sn", "department"].map((a) => ({ target: a, source: a })),
  });
  await rule({
    name: "directory-accounts",
    connectedSystemId: ids.ldap,
    direction: "OUTBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    provisionToConnector: true,
    attributeFlows: [
      { target: "uid", expression: "$lowercase(employeeId)" },
      // Contractors are (wrongly) routed outside the system's base DN ou=people,dc=example,dc=org.
      {
        target: "dn",
        expression: `'cn=' & givenName & ' ' & sn & (department = 'contractor' ? ',ou=groups,' : ',ou=people,') & '${slapd.baseDn}'`,
      },
      { target: "cn", expression: "givenName & ' ' & sn" },
      { target: "givenName", source: "givenName" },
      { target: "sn", source: "sn" },
    ],
  });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  await slapd?.stop();
});

describe("values flowing into a DN", () => {
  it("are escaped: each name is one RDN under ou=people, held verbatim; a DN outside the base DN is refused for that identity only", async () => {
    await runToEnd(app, ids.hr!, "FULL_IMPORT", { expect: "COMPLETED" });
    const sync = await runToEnd(app, ids.hr!, "FULL_SYNC");
    expect(sync).toMatchObject({ created: 5, failed: 1, exportsQueued: 4 });
    const refused = await app.services.db.prisma.runChange.findMany({ where: { runId: sync.id, errorCode: { not: null } } });
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ changeType: "RECORD_ERROR", errorCode: "DN_OUTSIDE_BASE" });
    expect(refused[0]!.location).toBe("cn=Out Side,ou=groups,dc=example,dc=org");
    expect(refused[0]!.message).toContain('rule "directory-accounts"');
    expect(refused[0]!.message).toContain("ou=people,dc=example,dc=org");

    expect(await runToEnd(app, ids.ldap!, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ created: 4, failed: 0 });
    const found = await entries();
    expect(found).toHaveLength(4);
    const people = `ou=people,${slapd.baseDn}`;
    for (const p of PEOPLE.slice(0, 4)) {
      const cn = `${p.givenName} ${p.sn}`;
      const entry = found.find((e) => e.cn === cn);
      expect(entry, cn).toBeDefined();
      // One single-valued RDN holding the whole name (nothing injected), directly under ou=people.
      expect(parseDn(entry!.dn)).toMatchObject({ rdnAttribute: "cn", rdnValue: cn, parent: people });
      expect(entry!.uid).toBe(p.employeeId.toLowerCase());
      expect(entry!.givenName).toBe(p.givenName);
      expect(entry!.sn).toBe(p.sn);
    }
    expect(
      dnEquals(found.find((e) => e.cn === "z+uid=injected Doe")!.dn, "cn=z\\+uid\\=injected Doe,ou=people,dc=example,dc=org"),
    ).toBe(true);
  });

  it("an escaped DN read back in the server's own escaping (\\2B for +) is the same DN: no rename is planned", async () => {
    await runToEnd(app, ids.ldap!, "FULL_IMPORT", { expect: "COMPLETED" });
    const sync = await runToEnd(app, ids.hr!, "FULL_SYNC");
    expect(sync.exportsQueued).toBe(0);
  });
});
