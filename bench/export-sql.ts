// Outbound benchmark: N identities provisioned to a real PostgreSQL table by the engine's export
// run (planning excluded), against `INSERT ... SELECT` of the same rows into a twin table of the
// same server, in the same run. Usage: npm run bench:export-sql -- [--size 10000]

import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { createConnector } from "../src/connectors/index.ts";
import { openBenchServices } from "./harness.ts";
import { importAndSync, timedExport } from "./outbound-phases.ts";
import { peopleSource } from "./people-source.ts";

const size = Number(parseArgs({ options: { size: { type: "string", default: "10000" } } }).values.size);

const bench = await openBenchServices();
const { services, dir } = bench;
const { logger } = services;
const hr = await services.systems.create({ name: "hr", kind: "CSV", config: { path: path.join(dir, "hr.csv"), anchor: "id" } });
const target = new pg.Client({ connectionString: services.config.databaseUrl });
await target.connect();
await target.query("CREATE SCHEMA target");
const columns = "uid text PRIMARY KEY, display_name text NOT NULL, given_name text, sn text, mail text";
await target.query(`CREATE TABLE target.accounts (${columns})`);
await target.query(`CREATE TABLE target.accounts_raw (${columns})`);
const sqlConfig = {
  connectionString: services.config.databaseUrl,
  schema: "target",
  table: "accounts",
  anchor: "uid",
  objectType: "account",
};
const sql = await services.systems.create({ name: "accounts", kind: "SQL", config: sqlConfig });
await services.db.prisma.syncRule.create({
  data: {
    name: "hr-in",
    connectedSystemId: hr.id,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
    attributeFlows: ["id", "givenName", "sn", "mail"].map((a) => ({ target: a === "id" ? "employeeId" : a, source: a })),
  },
});
await services.db.prisma.syncRule.create({
  data: {
    name: "sql-out",
    connectedSystemId: sql.id,
    direction: "OUTBOUND",
    objectType: "account",
    metaverseObjectType: "person",
    provisionToConnector: true,
    attributeFlows: [
      { target: "uid", expression: "$lowercase(employeeId)" },
      { target: "display_name", expression: "givenName & ' ' & sn" },
      { target: "given_name", source: "givenName" },
      { target: "sn", source: "sn" },
      { target: "mail", source: "mail" },
    ],
  },
});
const source = peopleSource(size);
const { sync, seconds: syncSeconds } = await importAndSync(services, hr.id, source);

const connector = await createConnector("SQL", { ...sqlConfig }, { logger });
const { exported, seconds: exportSeconds } = await timedExport(
  services,
  sql.id,
  connector,
  Number(process.env.EXPORT_BATCH ?? 500),
);
await connector.close();
const rss = process.memoryUsage().rss / 2 ** 20;

// The same rows, in one statement, into the twin table.
const t0 = performance.now();
await target.query("INSERT INTO target.accounts_raw SELECT * FROM target.accounts");
const rawSeconds = (performance.now() - t0) / 1000;
const { rows } = await target.query("SELECT count(*)::int AS n FROM target.accounts");
if (rows[0].n !== size) throw new Error(`exported ${rows[0].n} of ${size} rows`);
await target.end();

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
    phase: "export run (engine -> PostgreSQL table)",
    objects: exported.created,
    seconds: exportSeconds.toFixed(2),
    perSecond: Math.round(engineRate),
    rssMb: Math.round(rss),
  },
  { phase: "INSERT ... SELECT, same rows", objects: size, seconds: rawSeconds.toFixed(2), perSecond: Math.round(rawRate) },
]);
console.log(`export / INSERT ... SELECT ratio: ${(engineRate / rawRate).toFixed(2)}`);
await bench.close();
