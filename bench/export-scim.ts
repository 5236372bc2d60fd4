// SCIM provisioning benchmark: N users created in a scimmy + scimmy-routers service (in memory,
// in this process, as in the tests) by the SCIM connector's export, in the engine's batches of
// 500: one request in flight, several, and through /Bulk; next to raw fetch POSTs (and raw /Bulk
// requests) of the same resources against the same server. Server and client share one Node
// thread, so every figure includes the server's own work.
// Each case runs --repeat times, interleaved with the others (a loaded machine slows them alike);
// the table gives the range.
// With --engine, also the product path: N people imported and synced from a generated HR source
// into a private embedded PostgreSQL, then one EXPORT run (the engine's export executor, batches of
// 500, results recorded) per mode, as users/s of the run.
// Usage: npm run bench:export-scim -- [--size 2000] [--concurrency 8] [--repeat 3] [--engine] [--latency 0]

import { parseArgs } from "node:util";
import type { ExportChange } from "../src/connectors/connector.ts";
import { createConnector } from "../src/connectors/index.ts";
import { createLogger } from "../src/logger.ts";
import { startScimServer } from "../test/helpers/scim-server.ts";
import { openBenchServices } from "./harness.ts";
import { importAndSync, timedExport } from "./outbound-phases.ts";
import { peopleSource } from "./people-source.ts";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "8" },
    repeat: { type: "string", default: "3" },
    engine: { type: "boolean", default: false },
    latency: { type: "string", default: "0" },
  },
});
const repeat = Number(values.repeat);
const size = Number(values.size);
const inFlight = Number(values.concurrency);
const BATCH = 500;
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const logger = createLogger({ logLevel: "silent" });
const scim = await startScimServer();
// --latency: milliseconds the server waits before each answer, as a remote service's round trip
// would: what requests in flight and /Bulk are for.
const latency = Number(values.latency);
scim.delay(latency);

const attributes = (i: number) => ({
  userName: `user${i}@example.org`,
  externalId: `E${i}`,
  "name.givenName": `Given${i}`,
  "name.familyName": `Family${i}`,
  'emails[type eq "work"].value': `user${i}@example.org`,
  [`${ENTERPRISE}:department`]: `D${i % 20}`,
  active: true,
});
const resource = (i: number) => ({
  schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
  userName: `user${i}@example.org`,
  externalId: `E${i}`,
  name: { givenName: `Given${i}`, familyName: `Family${i}` },
  emails: [{ type: "work", value: `user${i}@example.org` }],
  [ENTERPRISE]: { department: `D${i % 20}` },
  active: true,
});
const change = (i: number): ExportChange => ({
  id: `c${i}`,
  changeType: "CREATE",
  objectType: "person",
  attributes: Object.entries(attributes(i)).map(([attribute, v]) => ({ attribute, operation: "REPLACE", values: [v] })),
});

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

const headers = { Authorization: `Bearer ${scim.token}`, "Content-Type": "application/scim+json" };
async function raw(concurrency: number) {
  await pool(
    Array.from({ length: size }, (_, i) => i),
    concurrency,
    async (i) => {
      const r = await fetch(`${scim.baseUrl}/Users`, { method: "POST", headers, body: JSON.stringify(resource(i)) });
      // Read as a client must (the created id is in it).
      const created = (await r.json()) as { id?: string };
      if (r.status !== 201 || !created.id) throw new Error(`raw POST: ${r.status}`);
    },
  );
}
async function rawBulk(concurrency: number) {
  const chunks: number[][] = [];
  for (let i = 0; i < size; i += 200) chunks.push(Array.from({ length: Math.min(200, size - i) }, (_, k) => i + k));
  await pool(chunks, concurrency, async (chunk) => {
    const body = {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
      Operations: chunk.map((i) => ({ method: "POST", path: "/Users", bulkId: `b${i}`, data: resource(i) })),
    };
    const r = await fetch(`${scim.baseUrl}/Bulk`, { method: "POST", headers, body: JSON.stringify(body) });
    const answer = (await r.json()) as { Operations?: unknown[] };
    if (r.status !== 200 || answer.Operations?.length !== chunk.length) throw new Error(`raw Bulk: ${r.status}`);
  });
}
async function connector(concurrency: number, useBulk: boolean) {
  const c = await createConnector("SCIM", { baseUrl: scim.baseUrl, bearerToken: scim.token, concurrency, useBulk }, { logger });
  for (let i = 0; i < size; i += BATCH) {
    const results = await c.export(Array.from({ length: Math.min(BATCH, size - i) }, (_, k) => change(i + k)));
    const failed = results.filter((r) => r.status !== "APPLIED");
    if (failed.length) throw new Error(`export: ${JSON.stringify(failed[0])}`);
  }
  await c.close();
}

async function measure(name: string, work: () => Promise<void>) {
  scim.users.clear();
  scim.requests.clear();
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  if (scim.users.size !== size) throw new Error(`${name}: ${scim.users.size} users stored, expected ${size}`);
  const requests = [...scim.requests.values()].reduce((a, b) => a + b, 0);
  return { name, rate: size / seconds, seconds, requests };
}

// One warm-up pass (JIT, connection pool), not reported.
await measure("warm-up", () => raw(inFlight));
const cases: [string, () => Promise<void>][] = [
  ["raw POST /Users, 1 in flight", () => raw(1)],
  [`raw POST /Users, ${inFlight} in flight`, () => raw(inFlight)],
  ["raw POST /Bulk (200 ops), 1 in flight", () => rawBulk(1)],
  ["connector export, concurrency 1", () => connector(1, false)],
  [`connector export, concurrency ${inFlight}`, () => connector(inFlight, false)],
  ["connector export, /Bulk, concurrency 1", () => connector(1, true)],
  [`connector export, /Bulk, concurrency ${inFlight}`, () => connector(inFlight, true)],
];
const results = new Map<string, { rate: number; requests: number }[]>();
for (let r = 0; r < repeat; r++) {
  for (const [name, work] of cases) {
    const m = await measure(name, work);
    results.set(name, [...(results.get(name) ?? []), m]);
    process.stderr.write(`${name}: ${Math.round(m.rate)} users/s\n`);
  }
}
const imports: number[] = [];
const rawReads: number[] = [];
let importRequests = 0;
{
  // The same pages raw: scimmy builds every stored resource for each list request, so its lists are slow.
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    let read = 0;
    // Until totalResults: scimmy answers a startIndex past the end with the first page again.
    for (let start = 1; start <= size; start += 200) {
      const res = await fetch(`${scim.baseUrl}/Users?startIndex=${start}&count=200`, { headers });
      const page = (await res.json()) as { Resources?: unknown[] };
      read += page.Resources?.length ?? 0;
    }
    if (read !== size) throw new Error(`raw read ${read} of ${size}`);
    rawReads.push(size / ((performance.now() - t0) / 1000));
  }
  // Full import of what the last case left (size users): the connector's read rate.
  const c = await createConnector("SCIM", { baseUrl: scim.baseUrl, bearerToken: scim.token, pageSize: 200 }, { logger });
  for (let r = 0; r < repeat; r++) {
    scim.requests.clear();
    const t0 = performance.now();
    let read = 0;
    const context = { storedHashes: async () => new Map(), storedAnchors: async function* () {} };
    for await (const page of c.importFull(null, context)) read += page.objects.length;
    if (read !== size) throw new Error(`import read ${read} of ${size}`);
    imports.push(size / ((performance.now() - t0) / 1000));
    importRequests = [...scim.requests.values()].reduce((a, b) => a + b, 0);
  }
}
const engineRows: string[] = [];
if (values.engine) {
  const bench = await openBenchServices();
  const { services } = bench;
  const hr = await services.systems.create({ name: "hr", kind: "CSV", config: { path: `${bench.dir}/hr.csv`, anchor: "id" } });
  await services.db.prisma.syncRule.create({
    data: {
      name: "hr-in",
      connectedSystemId: hr.id,
      direction: "INBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      projectToMetaverse: true,
      joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
      attributeFlows: ["id", "givenName", "sn", "mail", "department"].map((a) => ({
        target: a === "id" ? "employeeId" : a,
        source: a,
      })),
    },
  });
  const modes = [
    { name: `engine EXPORT run, concurrency ${inFlight}`, useBulk: false },
    { name: `engine EXPORT run, /Bulk, concurrency ${inFlight}`, useBulk: true },
  ];
  const systems = [];
  for (const [m, mode] of modes.entries()) {
    const config = { baseUrl: scim.baseUrl, bearerToken: scim.token, concurrency: inFlight, useBulk: mode.useBulk };
    const system = await services.systems.create({ name: `saas${m}`, kind: "SCIM", config });
    await services.db.prisma.syncRule.create({
      data: {
        name: `saas${m}-out`,
        connectedSystemId: system.id,
        direction: "OUTBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        provisionToConnector: true,
        attributeFlows: [
          { target: "userName", expression: `$lowercase(employeeId) & '@m${m}.example.org'` },
          { target: "externalId", source: "employeeId" },
          { target: "name.givenName", source: "givenName" },
          { target: "name.familyName", source: "sn" },
          { target: 'emails[type eq "work"].value', source: "mail" },
          { target: `${ENTERPRISE}:department`, source: "department" },
          { target: "active", expression: "true" },
        ],
      },
    });
    systems.push({ system, config, mode });
  }
  await importAndSync(services, hr.id, peopleSource(size));
  for (const { system, config, mode } of systems) {
    scim.users.clear();
    scim.requests.clear();
    const connector = await createConnector("SCIM", config, { logger });
    const { exported, seconds } = await timedExport(services, system.id, connector, 500);
    if (exported.created !== size || scim.users.size !== size) throw new Error(`${mode.name}: ${JSON.stringify(exported)}`);
    const requests = [...scim.requests.values()].reduce((a, b) => a + b, 0);
    engineRows.push(`| ${mode.name} | ${Math.round(size / seconds)} | ${requests} |`);
  }
  await bench.close();
}
await scim.stop();
console.log(
  `SCIM provisioning of ${size} users (scimmy 1.3.5 + scimmy-routers 1.3.2, in process, ${latency} ms added per request), ${repeat} runs each`,
);
console.log("| what | users/s (min - max) | HTTP requests |");
console.log("|---|---|---|");
for (const [name, ms] of results) {
  const rates = ms.map((m) => Math.round(m.rate)).sort((a, b) => a - b);
  console.log(`| ${name} | ${rates[0]} - ${rates.at(-1)} | ${ms[0]?.requests} |`);
}
const reads = imports.map(Math.round).sort((a, b) => a - b);
const raws = rawReads.map(Math.round).sort((a, b) => a - b);
console.log(`| raw GET /Users (pages of 200) | ${raws[0]} - ${raws.at(-1)} | ${Math.ceil(size / 200)} |`);
console.log(`| connector importFull (pages of 200) | ${reads[0]} - ${reads.at(-1)} | ${importRequests} |`);
for (const row of engineRows) console.log(row);
