import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Attribute, Change, Client } from "ldapts";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../src/jobs/worker.ts";
import { FAST_RUN_OPTIONS } from "../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { createTestDatabaseUrl } from "../helpers/database.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";
import { type Slapd, startSlapd } from "../helpers/slapd.ts";
import { CREATE_RULE, CREATE_SYSTEM, createDiscoveredSystem, ok, REFRESH, rawId, runToEnd } from "./helpers.ts";

// The outbound story end to end through the public API, the start gate, pg-boss workers and
// real systems: an HR CSV provisions 1,000 people to a real slapd and a real SQL table.
const PEOPLE = 1000;
let app: TestApp;
let worker: WorkerHandle;
let slapd: Slapd;
let sqlUrl: string;
let sql: pg.Client;
const dir = mkdtempSync(path.join(tmpdir(), "metasync-e2e-"));
const hrFile = path.join(dir, "hr.csv");
const ids: Record<string, string> = {};

type Person = { id: string; givenName: string; sn: string; department: string; managerId: string };
const people: Person[] = Array.from({ length: PEOPLE }, (_, i) => ({
  id: `E${String(i + 1).padStart(4, "0")}`,
  givenName: `Given${i % 97}`,
  sn: `Surname${i}`,
  department: `D${i % 7}`,
  managerId: i < 10 ? "" : `E${String((i % 10) + 1).padStart(4, "0")}`,
}));
/** The HR file as edited so far: each test adds its edits to the previous tests' ones. */
const edits = new Map<string, Partial<Person> | null>();
function editHr(changes: Record<string, Partial<Person> | null>) {
  for (const [id, change] of Object.entries(changes)) edits.set(id, change === null ? null : { ...edits.get(id), ...change });
  writeHr(people.flatMap((p) => (edits.get(p.id) === null ? [] : [{ ...p, ...edits.get(p.id) }])));
}
const writeHr = (rows: Person[]) =>
  writeFileSync(
    hrFile,
    [
      "employeeId,givenName,sn,department,managerId",
      ...rows.map((p) => [p.id, p.givenName, p.sn, p.department, p.managerId].join(",")),
    ].join("\n"),
  );

async function ldapSearch(filter: string, attributes: string[] = ["*"]) {
  const client = new Client({ url: slapd.url });
  try {
    await client.bind(slapd.bindDn, slapd.password);
    const { searchEntries } = await client.search(`ou=people,${slapd.baseDn}`, {
      scope: "one",
      filter,
      attributes,
      sizeLimit: 0,
      paged: { pageSize: 500 },
    });
    return searchEntries;
  } finally {
    await client.unbind();
  }
}

beforeAll(async () => {
  slapd = await startSlapd();
  sqlUrl = await createTestDatabaseUrl();
  sql = new pg.Client({ connectionString: sqlUrl });
  await sql.connect();
  await sql.query("CREATE TABLE accounts (id text PRIMARY KEY, display_name text NOT NULL, department text, telephone text)");
  writeHr(people);
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
  ids.sql = await system({
    name: "accounts",
    kind: "SQL",
    deleteThreshold: 1,
    config: { connectionString: sqlUrl, table: "accounts", anchor: "id", objectType: "account" },
  });

  const rule = (i: Record<string, unknown>) => ok(app, CREATE_RULE, { i });
  await rule({
    name: "hr-people",
    connectedSystemId: ids.hr,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    precedence: 10,
    mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS",
    joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
    attributeFlows: [
      { target: "employeeId", source: "employeeId" },
      { target: "givenName", source: "givenName" },
      { target: "sn", source: "sn" },
      { target: "department", source: "department" },
      { target: "managerId", source: "managerId" },
    ],
  });
  await rule({
    name: "directory-phones",
    connectedSystemId: ids.ldap,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    precedence: 50,
    joinRules: [{ source: "employeeNumber", metaverseAttribute: "employeeId" }],
    attributeFlows: [{ target: "telephoneNumber", source: "telephoneNumber" }],
  });
  await rule({
    name: "directory-accounts",
    connectedSystemId: ids.ldap,
    direction: "OUTBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    provisionToConnector: true,
    deprovision: "DISABLE_THEN_DELETE",
    deprovisionGraceSeconds: 0,
    disableFlow: { attribute: "employeeType", value: "disabled" },
    attributeFlows: [
      {
        target: "uid",
        expression: "$lowercase(givenName) & '.' & $lowercase(sn) & ($n > 1 ? $string($n) : '')",
        unique: true,
        initialOnly: true,
      },
      {
        target: "dn",
        expression: "'cn=' & givenName & ' ' & sn & ($n > 1 ? ' ' & $string($n) : '') & ',ou=people," + "dc=example,dc=org'",
        unique: true,
      },
      { target: "cn", expression: "givenName & ' ' & sn" },
      { target: "sn", source: "sn" },
      { target: "givenName", source: "givenName" },
      { target: "employeeNumber", source: "employeeId" },
      { target: "departmentNumber", source: "department" },
      { target: "telephoneNumber", source: "telephoneNumber" },
      { target: "manager", source: "managerId", reference: true },
    ],
  });
  await rule({
    name: "sql-accounts",
    connectedSystemId: ids.sql,
    direction: "OUTBOUND",
    objectType: "account",
    metaverseObjectType: "person",
    provisionToConnector: true,
    deprovision: "DELETE",
    attributeFlows: [
      { target: "id", source: "employeeId" },
      { target: "display_name", expression: "givenName & ' ' & sn" },
      { target: "department", source: "department" },
      { target: "telephone", source: "telephoneNumber" },
    ],
  });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  await sql?.end();
  await slapd?.stop();
});

const exportsOf = (systemId: string, where: Record<string, unknown> = {}) =>
  app.services.db.prisma.pendingExport.findMany({ where: { connectedSystemId: systemId, ...where } });

describe("provisioning HR to a directory and a database", () => {
  it("imports, syncs, provisions 1,000 people to slapd and SQL, and the next imports confirm", async () => {
    expect(await runToEnd(app, ids.hr!, "FULL_IMPORT", { expect: "COMPLETED" })).toMatchObject({ created: PEOPLE, failed: 0 });
    const sync = await runToEnd(app, ids.hr!, "FULL_SYNC", { expect: "COMPLETED" });
    expect(sync).toMatchObject({ created: PEOPLE, exportsQueued: 2 * PEOPLE });

    const t0 = performance.now();
    const ldapExport = await runToEnd(app, ids.ldap!, "EXPORT", { expect: "COMPLETED" });
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `LDAP export: ${ldapExport.created} creates + ${ldapExport.updated} reference updates in ${seconds.toFixed(2)} s (${Math.round(PEOPLE / seconds)} entries/s incl. queueing)`,
    );
    expect(ldapExport.created).toBe(PEOPLE);
    expect(await runToEnd(app, ids.sql!, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ created: PEOPLE, failed: 0 });

    const entries = await ldapSearch("(objectClass=inetOrgPerson)", ["cn", "uid", "manager", "employeeNumber"]);
    expect(entries).toHaveLength(PEOPLE);
    // Same given name and surname pattern never collide here; the unique uid is the lowercase name.
    const e11 = entries.find((e) => e.employeeNumber === "E0011");
    const e1 = entries.find((e) => e.employeeNumber === "E0001");
    expect(e11?.uid).toBe("given10.surname10");
    expect(String(e11?.manager).toLowerCase()).toBe(e1?.dn.toLowerCase());
    expect((await sql.query("SELECT count(*)::int AS n FROM accounts")).rows[0].n).toBe(PEOPLE);
    expect((await sql.query("SELECT display_name, department FROM accounts WHERE id = 'E0011'")).rows[0]).toEqual({
      display_name: "Given10 Surname10",
      department: "D3",
    });

    await runToEnd(app, ids.ldap!, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, ids.sql!, "FULL_IMPORT", { expect: "COMPLETED" });
    const open = await app.services.db.prisma.pendingExport.count({ where: { status: { notIn: ["CONFIRMED"] } } });
    expect(open).toBe(0);
  });

  it("flows renames (moving DNs), department changes and leavers, with the threshold holding SQL deletes for approval", async () => {
    editHr({ E0100: { sn: "Renamed" }, E0200: { department: "D99" }, E0500: null, E0501: null });
    await runToEnd(app, ids.hr!, "FULL_IMPORT", { expect: "COMPLETED" });
    const sync = await runToEnd(app, ids.hr!, "DELTA_SYNC", { expect: "COMPLETED" });
    expect(sync.fetched).toBe(4);

    const held = await exportsOf(ids.sql!, { changeType: "DELETE" });
    expect(held.map((e) => e.status)).toEqual(["AWAITING_APPROVAL", "AWAITING_APPROVAL"]);
    await runToEnd(app, ids.ldap!, "EXPORT", { expect: "COMPLETED" });
    await runToEnd(app, ids.sql!, "EXPORT", { expect: "COMPLETED" });
    expect((await sql.query("SELECT count(*)::int AS n FROM accounts")).rows[0].n).toBe(PEOPLE);

    const renamed = await ldapSearch("(employeeNumber=E0100)", ["cn", "sn", "uid"]);
    expect(renamed[0]?.dn).toBe("cn=Given2 Renamed,ou=people,dc=example,dc=org");
    expect(renamed[0]?.uid).toBe("given2.surname99"); // initialOnly: the login name does not follow renames
    expect((await ldapSearch("(employeeNumber=E0200)", ["departmentNumber"]))[0]?.departmentNumber).toBe("D99");
    expect(await ldapSearch("(|(employeeNumber=E0500)(employeeNumber=E0501))")).toHaveLength(0);

    const approved = await ok(app, "mutation($r: ID!) { approvePendingExports(runId: $r) }", { r: held[0]!.planningRunId });
    expect(approved.approvePendingExports).toBe(2);
    await runToEnd(app, ids.sql!, "EXPORT", { expect: "COMPLETED" });
    expect((await sql.query("SELECT id FROM accounts WHERE id IN ('E0500', 'E0501')")).rows).toEqual([]);
  });

  it("never exports a directory-contributed value back to the directory, but does to SQL", async () => {
    const client = new Client({ url: slapd.url });
    await client.bind(slapd.bindDn, slapd.password);
    const [entry] = await ldapSearch("(employeeNumber=E0300)", ["cn"]);
    await client.modify(entry!.dn, [
      new Change({ operation: "replace", modification: new Attribute({ type: "telephoneNumber", values: ["+1 555 0300"] }) }),
    ]);
    await client.unbind();
    await runToEnd(app, ids.ldap!, "FULL_IMPORT", { expect: "COMPLETED" });
    const sync = await runToEnd(app, ids.ldap!, "DELTA_SYNC", { expect: "COMPLETED" });
    expect(sync.exportsQueued).toBe(1);
    const pending = await app.services.db.prisma.pendingExport.findMany({ where: { status: "PENDING" } });
    expect(pending.map((p) => p.connectedSystemId)).toEqual([ids.sql]);
    await runToEnd(app, ids.sql!, "EXPORT", { expect: "COMPLETED" });
    expect((await sql.query("SELECT telephone FROM accounts WHERE id = 'E0300'")).rows[0].telephone).toBe("+1 555 0300");
  });

  it("keeps exports through a stopped directory and completes them after it restarts", async () => {
    editHr({ E0400: { department: "D42" } });
    await runToEnd(app, ids.hr!, "DELTA_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, ids.hr!, "DELTA_SYNC", { expect: "COMPLETED" });
    // With the directory down, the start gate's connection test blocks the export: nothing is
    // queued, nothing is lost (an export already running when a target drops ends FAILED with its
    // exports intact: test/integration/engine/outbound.test.ts).
    let blocked: any;
    await slapd.restart(async () => {
      blocked = await ok(
        app,
        "mutation($i: StartRunInput!) { startRun(input: $i) { outcome reasonCode nextSteps run { status } } }",
        {
          i: { connectedSystemId: ids.ldap, profile: "EXPORT" },
        },
      );
    });
    expect(blocked.startRun).toMatchObject({ outcome: "BLOCKED", reasonCode: "CONNECTION_FAILED", run: { status: "BLOCKED" } });
    expect(blocked.startRun.nextSteps.length).toBeGreaterThan(0);
    expect((await exportsOf(ids.ldap!, { status: "PENDING" })).length).toBe(1);
    await runToEnd(app, ids.ldap!, "EXPORT", { expect: "COMPLETED" });
    expect((await ldapSearch("(employeeNumber=E0400)", ["departmentNumber"]))[0]?.departmentNumber).toBe("D42");
  });

  it("previews a sync with dry run, and undoes the last export run after approval", async () => {
    editHr({ E0600: { department: "D77" } });
    await runToEnd(app, ids.hr!, "DELTA_IMPORT", { expect: "COMPLETED" });
    const before = await app.services.db.prisma.pendingExport.count();
    const dry = await runToEnd(app, ids.hr!, "DELTA_SYNC", { dryRun: true, expect: "COMPLETED" });
    expect(await app.services.db.prisma.pendingExport.count()).toBe(before);
    expect(await app.services.db.prisma.runChange.count({ where: { runId: dry.id, changeType: "EXPORT_PLANNED" } })).toBe(2);

    await runToEnd(app, ids.hr!, "DELTA_SYNC", { expect: "COMPLETED" });
    const exported = await runToEnd(app, ids.sql!, "EXPORT", { expect: "COMPLETED" });
    expect((await sql.query("SELECT department FROM accounts WHERE id = 'E0600'")).rows[0].department).toBe("D77");
    const undo = await ok(app, "mutation($r: ID!) { undoExportRun(runId: $r) }", { r: exported.id });
    // E0600's department and E0400's (changed while the directory was down) went out in this run.
    expect(undo.undoExportRun).toBe(2);
    const inverse = await app.services.db.prisma.pendingExport.findMany({ where: { undoOfRunId: exported.id } });
    expect(inverse.map((e) => e.status)).toEqual(["AWAITING_APPROVAL", "AWAITING_APPROVAL"]);
    expect(
      (await ok(app, "mutation($r: ID!) { approvePendingExports(runId: $r) }", { r: exported.id })).approvePendingExports,
    ).toBe(2);
    await runToEnd(app, ids.sql!, "EXPORT", { expect: "COMPLETED" });
    const rows = (await sql.query("SELECT id, department FROM accounts WHERE id IN ('E0400', 'E0600') ORDER BY id")).rows;
    expect(rows).toEqual([
      { id: "E0400", department: "D0" },
      { id: "E0600", department: "D4" },
    ]);
  });
});
