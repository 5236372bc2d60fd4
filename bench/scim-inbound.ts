// SCIM service provider benchmark: POST /Users against a SCIM_INBOUND system's /scim/v2/<system>,
// the API (and the SCIM client) in this process, the worker a separate `metasync worker` process
// as `metasync serve` runs it, over a private embedded PostgreSQL. Each user is projected into the
// metaverse by an inbound rule (no target), so the drain is inbox -> connector space -> delta sync.
//  1. single POSTs one at a time: answered (201, durable in the inbox) and then visible in
//     connector space (polled every 5 ms);
//  2. POST /Users throughput with `--concurrency` requests in flight, then the time until every
//     user is in connector space.
// Usage: npm run bench:scim-inbound -- [--singles 200] [--users 2000] [--concurrency 16]

import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { buildApp } from "../src/server/app.ts";
import { openBenchServices } from "./harness.ts";
import { startWorkerOn } from "./product/processes.ts";

const { values } = parseArgs({
  options: {
    singles: { type: "string", default: "200" },
    users: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "16" },
    // Stop the worker during the burst: the API's own cost, then the inbox's drain on its own.
    "quiet-burst": { type: "boolean", default: false },
  },
});
const SINGLES = Number(values.singles);
const USERS = Number(values.users);
const CONCURRENCY = Number(values.concurrency);
const TOKEN = randomBytes(24).toString("hex");

const secretKey = randomBytes(32).toString("hex");
const bench = await openBenchServices({ secretKey });
const { services, dir } = bench;
const idp = await services.systems.create({
  name: "idp",
  kind: "SCIM_INBOUND",
  config: { bearerToken: TOKEN },
  realtime: { enabled: true, windowMs: 10, batchSize: 1000 },
});
await services.connectionActions.refreshSchema(idp.id);
await services.db.prisma.syncRule.create({
  data: {
    name: "idp-in",
    connectedSystemId: idp.id,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    joinRules: [{ source: "userName", metaverseAttribute: "userName" }],
    attributeFlows: [
      { target: "userName", source: "userName" },
      { target: "givenName", source: "name.givenName" },
      { target: "sn", source: "name.familyName" },
      { target: "mail", source: 'emails[type eq "work"].value' },
    ],
  },
});

const app = buildApp(services);
const { url } = await app.start();
const startWorker = () => startWorkerOn(services.db.url, secretKey, dir);
let worker = await startWorker();

const user = (name: string) => ({
  schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  userName: `${name}@example.org`,
  externalId: name,
  active: true,
  name: { givenName: "Zoë", familyName: `Þórsdóttir ${name}` },
  emails: [{ type: "work", value: `${name}@example.org`, primary: true }],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { department: "Engineering", employeeNumber: name },
});
async function post(name: string): Promise<string> {
  const res = await fetch(`${url}/scim/v2/idp/Users`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/scim+json" },
    body: JSON.stringify(user(name)),
  });
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`POST ${name}: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}
const inConnectorSpace = async (anchor: string) =>
  (
    await services.db.pool.query("SELECT 1 FROM connector_space_object WHERE connected_system_id = $1 AND anchor = $2", [
      idp.id,
      anchor,
    ])
  ).rowCount! > 0;
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

// 1. One at a time.
const answered: number[] = [];
const applied: number[] = [];
const loadBefore = load();
for (let i = 0; i < SINGLES; i++) {
  const t0 = performance.now();
  const id = await post(`s${i}`);
  answered.push(performance.now() - t0);
  while (!(await inConnectorSpace(id))) await new Promise((r) => setTimeout(r, 5));
  applied.push(performance.now() - t0);
}
answered.sort((a, b) => a - b);
applied.sort((a, b) => a - b);

// 2. Throughput.
if (values["quiet-burst"]) await worker.stop();
const t0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < USERS; i = next++) await post(`b${i}`);
  }),
);
const postSeconds = (performance.now() - t0) / 1000;
const loadDuring = load();
const drainStart = performance.now();
if (values["quiet-burst"]) worker = await startWorker();
for (;;) {
  const { rows } = await services.db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM connector_space_object WHERE connected_system_id = $1 AND object_type = 'person'",
    [idp.id],
  );
  if (rows[0]!.n >= SINGLES + USERS) break;
  await new Promise((r) => setTimeout(r, 50));
}
const drainedSeconds = (performance.now() - t0) / 1000;
const drainOnlySeconds = (performance.now() - drainStart) / 1000;

const f = (ms: number) => `${ms.toFixed(1)} ms`;
console.log(`load average before: ${loadBefore}; after the burst: ${loadDuring}`);
console.log(
  `single POST /Users answered (${SINGLES}): p50 ${f(quantile(answered, 0.5))}, p99 ${f(quantile(answered, 0.99))}; ` +
    `POST -> in connector space: p50 ${f(quantile(applied, 0.5))}, p99 ${f(quantile(applied, 0.99))}, max ${f(applied.at(-1)!)}`,
);
console.log(
  `POST /Users, ${CONCURRENCY} in flight: ${USERS} in ${postSeconds.toFixed(1)} s = ${Math.round(USERS / postSeconds)} requests/s; ` +
    `all in connector space after ${drainedSeconds.toFixed(1)} s (${Math.round(USERS / drainedSeconds)} users/s end to end)` +
    (values["quiet-burst"] ? `; worker stopped during the POSTs, then drained them in ${drainOnlySeconds.toFixed(1)} s` : ""),
);

await worker.stop();
await app.stop();
await bench.close();
