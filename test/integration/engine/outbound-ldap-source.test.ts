import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Attribute, Change } from "ldapts";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector } from "../../../src/connectors/connector.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import { createExportExecutor } from "../../../src/engine/outbound/run-export.ts";
import type { Services } from "../../../src/services.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { withAdmin } from "../../helpers/ldap-data.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";
import { SqlHarness } from "../../helpers/sql-harness.ts";

// OpenLDAP's sample people (LDAP: every attribute of theirs is multi-valued by schema, mail and uid
// arrive as one-element lists, cn with several values) into single-valued targets: a CSV file, a
// SQL table, and LDAP entries whose displayName is SINGLE-VALUE.
let services: Services;
let slapd: Slapd;
const sql = new SqlHarness();
const dataDir = path.join(tmpdir(), `metasync-outbound-ldap-${process.pid}-${Date.now()}`);
const csvPath = path.join(dataDir, "files", "people.csv");
const COPIES = "ou=Copies,dc=example,dc=com";
const BABS = "cn=Barbara Jensen,ou=Information Technology Division,ou=People,dc=example,dc=com";
const JANE = "cn=Jane Doe,ou=Alumni Association,ou=People,dc=example,dc=com";
const logger = pino({ level: "silent" });
const systems: Record<string, { id: string; ruleId: string; connector: Connector }> = {};

async function system(
  name: string,
  kind: "LDAP" | "CSV" | "SQL",
  config: Record<string, unknown>,
  rule: Record<string, unknown>,
) {
  const created = await services.systems.create({ name, kind, config });
  await services.connectionActions.refreshSchema(created.id);
  const r = await services.db.prisma.syncRule.create({
    data: {
      name: `${name}-rule`,
      connectedSystemId: created.id,
      objectType: "person",
      metaverseObjectType: "person",
      ...rule,
    } as never,
  });
  systems[name] = { id: created.id, ruleId: r.id, connector: await createConnector(kind, config, { logger }) };
}

const run = (name: string, profile: "FULL_IMPORT" | "FULL_SYNC" | "EXPORT") =>
  runEngine(services, {
    systemId: systems[name]!.id,
    profile,
    connector: systems[name]!.connector,
    ...(profile === "EXPORT" ? { executor: createExportExecutor({ batchSize: 50, retryBaseMs: 10 }) } : {}),
  });

async function importAndSync() {
  await run("sample", "FULL_IMPORT");
  return run("sample", "FULL_SYNC");
}

const TARGETS = ["csv", "sql", "ldap"] as const;
async function exportAll() {
  const out: Record<string, { failed: number; created: number; updated: number }> = {};
  for (const t of TARGETS) {
    const { failed, created, updated } = await run(t, "EXPORT");
    out[t] = { failed, created, updated };
  }
  return out;
}

const changesOf = async (runId: string) => services.db.prisma.runChange.findMany({ where: { runId }, orderBy: { id: "asc" } });
const mvoOf = async (uid: string) =>
  (await services.db.prisma.metaverseObject.findMany()).find((m) => (m.attributes as { uid?: unknown }).uid === uid);

beforeAll(async () => {
  slapd = await startSlapd({ sample: "openldap" });
  await withAdmin(slapd, (c) => c.add(COPIES, { objectClass: "organizationalUnit", ou: "Copies" }));
  await sql.start();
  await sql.admin.query("CREATE TABLE people_out (uid text PRIMARY KEY, mail text, cn text)");
  mkdirSync(path.dirname(csvPath), { recursive: true });
  writeFileSync(csvPath, "uid,mail,cn\r\n");
  services = await createTestServices({ dataDir });
  const ldap = { url: slapd.url, bindDn: slapd.bindDn, bindPassword: slapd.password };
  await system(
    "sample",
    "LDAP",
    { ...ldap, baseDn: "ou=People,dc=example,dc=com", objectClasses: ["inetOrgPerson"] },
    {
      direction: "INBOUND",
      projectToMetaverse: true,
      joinRules: [{ source: "uid", metaverseAttribute: "uid" }],
      attributeFlows: [
        { target: "uid", source: "uid" },
        { target: "mail", source: "mail" },
        { target: "cn", source: "cn" },
        { target: "sn", source: "sn" },
      ],
    },
  );
  const outbound = { direction: "OUTBOUND", provisionToConnector: true, deprovision: "DELETE" };
  await system(
    "csv",
    "CSV",
    { path: csvPath, anchor: "uid" },
    {
      ...outbound,
      attributeFlows: [
        { target: "uid", source: "uid" },
        { target: "mail", source: "mail" },
        { target: "cn", source: "cn" },
      ],
    },
  );
  await system(
    "sql",
    "SQL",
    { connectionString: sql.url, table: "people_out", anchor: "uid" },
    {
      ...outbound,
      attributeFlows: [
        { target: "uid", source: "uid" },
        { target: "mail", source: "mail" },
      ],
    },
  );
  await system(
    "ldap",
    "LDAP",
    { ...ldap, baseDn: COPIES, objectClasses: ["inetOrgPerson"] },
    {
      ...outbound,
      attributeFlows: [
        { target: "dn", expression: `'uid=' & uid & ',${COPIES}'` },
        { target: "uid", source: "uid" },
        { target: "sn", source: "sn" },
        { target: "cn", source: "cn" },
        { target: "displayName", source: "mail" },
      ],
    },
  );
}, 60_000);

afterAll(async () => {
  for (const s of Object.values(systems)) await s.connector.close().catch(() => {});
  if (services) await closeTestServices(services);
  await sql.stop().catch(() => {});
  await slapd?.stop();
});

describe("multi-valued sources into single-valued targets, and leavers, with OpenLDAP's sample people", () => {
  it("keeps one-valued LDAP attributes single in the metaverse, so DN expressions and joins need no [0]", async () => {
    const sync = await importAndSync();
    const babs = await mvoOf("bjensen");
    expect(babs?.attributes).toMatchObject({
      uid: "bjensen",
      mail: "bjensen@mailgw.example.com",
      cn: ["Barbara Jensen", "Babs Jensen"],
    });
    const planned = (await changesOf(sync.id)).filter(
      (c) => c.changeType === "EXPORT_PLANNED" && c.syncRuleId === systems.ldap!.ruleId,
    );
    expect(planned.map((c) => c.anchor)).toContain(`uid=bjensen,${COPIES}`);
  });

  it("several source values for a single-valued target are a located error of that object, not a failed run", async () => {
    const sync = (await services.db.prisma.run.findMany({ where: { profile: "FULL_SYNC" } }))[0]!;
    const babs = await mvoOf("bjensen");
    const errors = (await changesOf(sync.id)).filter((c) => c.errorCode === "MULTIPLE_VALUES");
    // cn has several values for most sample people; the CSV column is single-valued, LDAP cn is not.
    const babsError = errors.find((e) => e.metaverseObjectId === babs?.id);
    expect(babsError).toMatchObject({ changeType: "RECORD_ERROR", syncRuleId: systems.csv!.ruleId });
    expect(babsError?.attributeChanges).toMatchObject({ attribute: "cn", values: ["Barbara Jensen", "Babs Jensen"] });
    expect(errors.every((e) => e.syncRuleId === systems.csv!.ruleId)).toBe(true);

    const counts = await exportAll();
    expect(counts).toMatchObject({
      csv: { failed: 0, created: 10 },
      sql: { failed: 0, created: 10 },
      ldap: { failed: 0, created: 10 },
    });
    expect(readFileSync(csvPath, "utf8")).toContain("bjensen,bjensen@mailgw.example.com,\r\n");
    // Ursula Hampster has one cn: it reaches the CSV.
    expect(readFileSync(csvPath, "utf8")).toContain("uham,uham@mail.alumni.example.com,Ursula Hampster");
    const copy = await withAdmin(slapd, (c) => c.search(`uid=bjensen,${COPIES}`, { scope: "base" }));
    expect(copy.searchEntries[0]).toMatchObject({
      displayName: "bjensen@mailgw.example.com",
      cn: ["Barbara Jensen", "Babs Jensen"],
    });
  });

  it("a changed mail is one REPLACE on every single-valued target, and the newer export closes an older errored one", async () => {
    const csvCso = await services.db.prisma.connectorSpaceObject.findFirstOrThrow({
      where: { connectedSystemId: systems.csv!.id, anchor: "bjensen" },
    });
    // What a refused ADD + REMOVE left behind before: an ERROR export of mail on the same object.
    const stale = await services.db.prisma.pendingExport.create({
      data: {
        connectedSystemId: systems.csv!.id,
        connectorSpaceObjectId: csvCso.id,
        changeType: "UPDATE",
        status: "ERROR",
        attributeChanges: [
          { attribute: "mail", operation: "ADD", values: ["old@x"], status: "PENDING" },
          { attribute: "mail", operation: "REMOVE", values: ["older@x"], status: "PENDING" },
        ],
        createdAt: new Date(Date.now() - 60_000),
      },
    });
    await withAdmin(slapd, (c) =>
      c.modify(BABS, [
        new Change({ operation: "replace", modification: new Attribute({ type: "mail", values: ["babs@example.com"] }) }),
      ]),
    );
    await importAndSync();
    const planned = await services.db.prisma.pendingExport.findMany({ where: { status: "PENDING", changeType: "UPDATE" } });
    const mailChanges = planned.flatMap((p) =>
      (p.attributeChanges as { attribute: string; operation: string; values: string[] }[]).filter(
        (c) => c.attribute === "mail" || c.attribute === "displayName",
      ),
    );
    expect(mailChanges.map((c) => [c.attribute, c.operation, c.values])).toEqual(
      expect.arrayContaining([
        ["mail", "REPLACE", ["babs@example.com"]],
        ["mail", "REPLACE", ["babs@example.com"]],
        ["displayName", "REPLACE", ["babs@example.com"]],
      ]),
    );
    expect(mailChanges).toHaveLength(3);

    const counts = await exportAll();
    expect(counts).toMatchObject({
      csv: { failed: 0, updated: 1 },
      sql: { failed: 0, updated: 1 },
      ldap: { failed: 0, updated: 1 },
    });
    expect(readFileSync(csvPath, "utf8")).toContain("bjensen,babs@example.com,");
    expect((await sql.admin.query("SELECT mail FROM people_out WHERE uid = 'bjensen'")).rows).toEqual([
      { mail: "babs@example.com" },
    ]);
    const copy = await withAdmin(slapd, (c) => c.search(`uid=bjensen,${COPIES}`, { scope: "base" }));
    expect(copy.searchEntries[0]?.displayName).toBe("babs@example.com");
    expect((await services.db.prisma.pendingExport.findUniqueOrThrow({ where: { id: stale.id } })).status).toBe("CANCELLED");
  });

  it("a leaver under the MANUAL deletion rule leaves every target object as it is, with MISSING_INPUT on the run", async () => {
    const jane = await mvoOf("jdoe");
    await withAdmin(slapd, (c) => c.del(JANE));
    const sync = await importAndSync();
    const changes = (await changesOf(sync.id)).filter((c) => c.metaverseObjectId === jane?.id);
    const missing = changes.filter((c) => c.errorCode === "MISSING_INPUT");
    expect(missing.map((c) => c.syncRuleId).sort()).toEqual(TARGETS.map((t) => systems[t]!.ruleId).sort());
    expect(missing.find((c) => c.syncRuleId === systems.ldap!.ruleId)?.attributeChanges).toMatchObject({
      flow: "dn",
      inputs: ["uid"],
    });
    expect(missing[0]?.message).toMatch(/MANUAL/);
    const open = await services.db.prisma.pendingExport.findMany({
      where: { metaverseObjectId: jane?.id, status: { in: ["PENDING", "AWAITING_APPROVAL"] } },
    });
    expect(open).toEqual([]);
    const counts = await exportAll();
    expect(counts).toMatchObject({ csv: { failed: 0 }, sql: { failed: 0 }, ldap: { failed: 0 } });
    expect(readFileSync(csvPath, "utf8")).toContain("jdoe,jdoe@woof.net,");
    expect((await sql.admin.query("SELECT mail FROM people_out WHERE uid = 'jdoe'")).rows).toEqual([{ mail: "jdoe@woof.net" }]);
    const copy = await withAdmin(slapd, (c) => c.search(`uid=jdoe,${COPIES}`, { scope: "base" }));
    expect(copy.searchEntries[0]).toMatchObject({ uid: "jdoe", displayName: "jdoe@woof.net" });
  });
});
