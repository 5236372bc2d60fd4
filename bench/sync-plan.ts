// Full sync with export planning: N generated people projected into the metaverse, first with
// no outbound rule (the sync alone), then again from scratch with two outbound rules (an LDAP
// and a SQL target, provisioning every identity), in the same process and database.
// Usage: npm run bench:sync-plan -- [--size 100000]   (node --cpu-prof works as for any script)
import path from "node:path";
import { parseArgs } from "node:util";
import type { Connector, ConnectorObject, ImportPage } from "../src/connectors/connector.ts";
import { runEngine } from "../test/helpers/engine-run.ts";
import { openBenchServices } from "./harness.ts";

const { values } = parseArgs({ options: { size: { type: "string", default: "100000" } } });
const size = Number(values.size);
const BASE = "ou=people,dc=example,dc=org";

/** People generated page by page: the source is never held in memory. */
class People implements Connector {
  readonly capabilities = { fullImport: true, deltaImport: false, export: false, schemaDiscovery: false, rename: false };
  constructor(private readonly n: number) {}
  person(i: number): ConnectorObject {
    return {
      objectType: "person",
      anchor: `E${i}`,
      attributes: {
        id: `E${i}`,
        givenName: `Given${i}`,
        sn: `Surname${i}`,
        mail: `p${i}@example.org`,
        department: `D${i % 50}`,
        title: "Engineer",
      },
    };
  }
  async testConnection() {
    return { message: "ok" };
  }
  async discoverSchema() {
    return { objectTypes: [] };
  }
  async *importFull(): AsyncIterable<ImportPage> {
    for (let start = 0; start < this.n; start += 2000) {
      const objects = Array.from({ length: Math.min(2000, this.n - start) }, (_, k) => this.person(start + k));
      yield { objects, deletes: [], errors: [], checkpoint: { start: start + objects.length }, total: this.n };
    }
  }
  async *importDelta(): AsyncIterable<ImportPage> {}
  async export() {
    return [];
  }
  async close() {}
}

const bench = await openBenchServices();
const { services } = bench;
const { prisma, pool } = services.db;

async function schema(systemId: string, anchor: string, attributes: [string, boolean][]) {
  await prisma.objectType.create({
    data: {
      connectedSystemId: systemId,
      name: "person",
      anchorAttribute: anchor,
      attributes: { create: attributes.map(([name, multiValued]) => ({ name, type: "STRING", multiValued })) },
    },
  });
}

const hr = await services.systems.create({
  name: "hr",
  kind: "CSV",
  config: { path: path.join(bench.dir, "hr.csv"), anchor: "id" },
});
await schema(
  hr.id,
  "id",
  ["id", "givenName", "sn", "mail", "department", "title"].map((n) => [n, false]),
);
await prisma.syncRule.create({
  data: {
    name: "hr-in",
    connectedSystemId: hr.id,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
    attributeFlows: [
      { target: "employeeId", source: "id" },
      { target: "uid", expression: "$lowercase(givenName)" },
      { target: "givenName", source: "givenName" },
      { target: "sn", source: "sn" },
      { target: "mail", source: "mail" },
      { target: "department", source: "department" },
      { target: "displayName", expression: "givenName & ' ' & sn" },
    ],
  },
});

// Targets: never contacted (planning only writes pending exports), with discovered schemas.
const ldap = await services.systems.create({
  name: "directory",
  kind: "LDAP",
  config: { url: "ldap://127.0.0.1:1", bindDn: "cn=admin,dc=example,dc=org", bindPassword: "x", baseDn: BASE },
});
await schema(ldap.id, "entryUUID", [
  ["uid", true],
  ["cn", true],
  ["sn", true],
  ["givenName", true],
  ["mail", true],
  ["displayName", false],
  ["departmentNumber", true],
]);
const sql = await services.systems.create({
  name: "accounts",
  kind: "SQL",
  config: { connectionString: "postgres://127.0.0.1:1/x", table: "accounts", anchor: "id" },
});
await schema(sql.id, "id", [
  ["id", false],
  ["mail", false],
  ["sn", false],
  ["given_name", false],
  ["department", false],
]);
const outbound = {
  direction: "OUTBOUND",
  objectType: "person",
  metaverseObjectType: "person",
  provisionToConnector: true,
} as const;
const rules = [
  await prisma.syncRule.create({
    data: {
      ...outbound,
      name: "directory-out",
      connectedSystemId: ldap.id,
      deprovision: "DELETE",
      attributeFlows: [
        { target: "dn", expression: `'uid=' & uid & ',${BASE}'` },
        { target: "uid", source: "uid" },
        { target: "cn", source: "displayName" },
        { target: "sn", source: "sn" },
        { target: "givenName", source: "givenName" },
        { target: "mail", source: "mail" },
        { target: "displayName", source: "displayName" },
        { target: "departmentNumber", source: "department" },
      ],
    },
  }),
  await prisma.syncRule.create({
    data: {
      ...outbound,
      name: "accounts-out",
      connectedSystemId: sql.id,
      deprovision: "DISCONNECT",
      attributeFlows: [
        { target: "id", source: "employeeId" },
        { target: "mail", source: "mail" },
        { target: "sn", source: "sn" },
        { target: "given_name", source: "givenName" },
        { target: "department", source: "department" },
      ],
    },
  }),
];
const outboundEnabled = (enabled: boolean) =>
  prisma.syncRule.updateMany({ where: { id: { in: rules.map((r) => r.id) } }, data: { enabled } });

let phaseRss = 0;
const sampler = setInterval(() => {
  phaseRss = Math.max(phaseRss, process.memoryUsage().rss);
}, 50);
const results: { name: string; identities: number; seconds: number; perSecond: number; peakRssMb: number }[] = [];
async function phase(name: string, fn: () => Promise<unknown>) {
  phaseRss = 0;
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  results.push({
    name,
    identities: size,
    seconds: Number(seconds.toFixed(2)),
    perSecond: Math.round(size / seconds),
    peakRssMb: Math.round(phaseRss / 1048576),
  });
}

const people = new People(size);
const run = (profile: "FULL_IMPORT" | "FULL_SYNC") => runEngine(services, { systemId: hr.id, profile, connector: people });
/** Back to "imported, never synced": no identities, no exports, no provisioned placeholders. */
async function unsync() {
  await pool.query("TRUNCATE metaverse_key, pending_export, run_change");
  await pool.query("DELETE FROM connector_space_object WHERE connected_system_id <> $1", [hr.id]);
  await pool.query("UPDATE connector_space_object SET metaverse_object_id = NULL, join_type = NULL, joined_at = NULL");
  await pool.query("DELETE FROM metaverse_object");
  await pool.query("VACUUM ANALYZE");
}

await run("FULL_IMPORT");
await outboundEnabled(false);
await pool.query("VACUUM ANALYZE");
await phase("full_sync", () => run("FULL_SYNC"));
await unsync();
await outboundEnabled(true);
await phase("full_sync_with_planning", () => run("FULL_SYNC"));
clearInterval(sampler);

const planned = await pool.query(
  "SELECT c.name, count(*)::int AS n FROM pending_export p JOIN connected_system c ON c.id = p.connected_system_id GROUP BY c.name ORDER BY c.name",
);
console.table(results);
console.log("pending exports planned:", Object.fromEntries(planned.rows.map((r) => [r.name, r.n])));
await bench.close();
