// Outbound benchmark: N identities provisioned to a real slapd by the engine's export run
// (planning excluded), against raw `ldapadd` of the same entries into the same server.
// Then a 1% change set (renames, moves to another department's OU, leavers) end to end: delta
// import of the source, delta sync with planning, export to slapd.
// Usage: npx tsx bench/export-ldap.ts [--size 10000]

import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { createConnector } from "../src/connectors/index.ts";
import { runEngine } from "../test/helpers/engine-run.ts";
import { startSlapd } from "../test/helpers/slapd.ts";
import { openBenchServices } from "./harness.ts";
import { importAndSync, timedExport } from "./outbound-phases.ts";
import { DEPARTMENTS, peopleSource, person } from "./people-source.ts";

const size = Number(parseArgs({ options: { size: { type: "string", default: "10000" } } }).values.size);

const bench = await openBenchServices();
const { services, dir } = bench;
const { logger } = services;
const slapd = await startSlapd();
const hr = await services.systems.create({ name: "hr", kind: "CSV", config: { path: path.join(dir, "hr.csv"), anchor: "id" } });
const ldapConfig = {
  url: slapd.url,
  bindDn: slapd.bindDn,
  bindPassword: slapd.password,
  baseDn: `ou=people,${slapd.baseDn}`,
  objectClasses: ["inetOrgPerson"],
  objectType: "person",
  // LDAP_CONNECTIONS / LDAP_CONCURRENCY: requests in flight (connector defaults 1 x 8).
  connections: Number(process.env.LDAP_CONNECTIONS ?? 1),
  concurrency: Number(process.env.LDAP_CONCURRENCY ?? 8),
};
const ldap = await services.systems.create({ name: "ldap", kind: "LDAP", config: ldapConfig });
await services.db.prisma.syncRule.create({
  data: {
    name: "hr-in",
    connectedSystemId: hr.id,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
    // A leaver's identity goes with its HR record, and with it the directory entry.
    mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS",
    attributeFlows: ["id", "givenName", "sn", "mail", "department"].map((a) => ({
      target: a === "id" ? "employeeId" : a,
      source: a,
    })),
  },
});
await services.db.prisma.syncRule.create({
  data: {
    name: "ldap-out",
    connectedSystemId: ldap.id,
    direction: "OUTBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    provisionToConnector: true,
    deprovision: "DELETE",
    attributeFlows: [
      { target: "dn", expression: `'uid=' & $lowercase(employeeId) & ',ou=' & department & ',ou=people,${slapd.baseDn}'` },
      { target: "uid", expression: "$lowercase(employeeId)" },
      { target: "cn", expression: "givenName & ' ' & sn" },
      { target: "sn", source: "sn" },
      { target: "givenName", source: "givenName" },
      { target: "mail", source: "mail" },
    ],
  },
});
const ldapadd = (input: string) => {
  const r = spawnSync("ldapadd", ["-x", "-H", slapd.url, "-D", slapd.bindDn, "-w", slapd.password], { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ldapadd failed: ${r.stderr}`);
};
ldapadd(
  Array.from(
    { length: DEPARTMENTS },
    (_, d) => `dn: ou=D${d},ou=people,${slapd.baseDn}\nobjectClass: organizationalUnit\nou: D${d}\n`,
  ).join("\n"),
);
const source = peopleSource(size);
const { sync, seconds: syncSeconds } = await importAndSync(services, hr.id, source);

const target = await createConnector("LDAP", { ...ldapConfig }, { logger });
const { exported, seconds: exportSeconds } = await timedExport(
  services,
  ldap.id,
  target,
  Number(process.env.EXPORT_BATCH ?? 500),
);
await target.close();
const rss = process.memoryUsage().rss / 2 ** 20;

// The same entries, raw, under another parent in the same server.
ldapadd(`dn: ou=raw,${slapd.baseDn}\nobjectClass: organizationalUnit\nou: raw\n`);
const ldif = Array.from({ length: size }, (_, i) => {
  const p = person(i);
  return `dn: uid=e${i},ou=raw,${slapd.baseDn}\nobjectClass: inetOrgPerson\nuid: e${i}\ncn: ${p.givenName} ${p.sn}\nsn: ${p.sn}\ngivenName: ${p.givenName}\nmail: ${p.mail}\n`;
}).join("\n");
const file = path.join(dir, "raw.ldif");
writeFileSync(file, ldif);
let t0 = performance.now();
// Its "adding new entry" lines are not read: past spawnSync's 1 MB buffer they kill ldapadd.
const r = spawnSync("ldapadd", ["-x", "-H", slapd.url, "-D", slapd.bindDn, "-w", slapd.password, "-f", file], {
  stdio: ["ignore", "ignore", "pipe"],
});
const rawSeconds = (performance.now() - t0) / 1000;
if (r.status !== 0) throw new Error(`ldapadd failed: ${r.stderr}`);

// 1% of the people change at the source; time from the delta import to the last entry written.
const changes = source.change(0.01);
t0 = performance.now();
await runEngine(services, { systemId: hr.id, profile: "DELTA_IMPORT", connector: source });
const importedAt = performance.now();
const deltaSync = await runEngine(services, { systemId: hr.id, profile: "DELTA_SYNC", connector: source });
const syncedAt = performance.now();
const deltaTarget = await createConnector("LDAP", { ...ldapConfig }, { logger });
const { exported: deltaExport } = await timedExport(services, ldap.id, deltaTarget);
const deltaSeconds = (performance.now() - t0) / 1000;
const steps = [importedAt - t0, syncedAt - importedAt, performance.now() - syncedAt].map((ms) => (ms / 1000).toFixed(2));
await deltaTarget.close();
const expected = changes.renamed + changes.moved + changes.left;
if (deltaExport.updated + deltaExport.deleted !== expected || deltaExport.failed)
  throw new Error(`change set: expected ${expected} exports, got ${JSON.stringify(deltaExport)}`);
const search = (filter: string) =>
  spawnSync(
    "ldapsearch",
    [
      "-x",
      "-LLL",
      "-H",
      slapd.url,
      "-D",
      slapd.bindDn,
      "-w",
      slapd.password,
      "-b",
      `ou=people,${slapd.baseDn}`,
      filter,
      "dn",
      "sn",
    ],
    {
      encoding: "utf8",
    },
  ).stdout;
// Person 0 was renamed, 100 moved to the next department, 200 left.
if (!search("(uid=e0)").includes("sn: Renamed0")) throw new Error("rename not in the directory");
if (!search("(uid=e100)").includes(`uid=e100,ou=D1,ou=people,${slapd.baseDn}`)) throw new Error("move not in the directory");
if (search("(uid=e200)").trim()) throw new Error("leaver still in the directory");

const engineRate = size / exportSeconds;
const rawRate = size / rawSeconds;
console.table([
  {
    phase: "full_sync + export planning",
    objects: size,
    seconds: syncSeconds.toFixed(2),
    perSecond: Math.round(size / syncSeconds),
    exportsQueued: sync.exportsQueued,
  },
  {
    phase: "export run (engine -> slapd)",
    objects: exported.created,
    seconds: exportSeconds.toFixed(2),
    perSecond: Math.round(engineRate),
    rssMb: Math.round(rss),
  },
  { phase: "raw ldapadd, same entries", objects: size, seconds: rawSeconds.toFixed(2), perSecond: Math.round(rawRate) },
  {
    phase: `1% change set (${changes.renamed} renamed, ${changes.moved} moved, ${changes.left} left): delta import -> slapd`,
    objects: expected,
    seconds: deltaSeconds.toFixed(2),
    perSecond: Math.round(expected / deltaSeconds),
    exportsQueued: deltaSync.exportsQueued,
  },
]);
console.log(`export / ldapadd ratio: ${(engineRate / rawRate).toFixed(2)}`);
console.log(`1% change set: delta import ${steps[0]} s, delta sync with planning ${steps[1]} s, export ${steps[2]} s`);
await slapd.stop();
await bench.close();
