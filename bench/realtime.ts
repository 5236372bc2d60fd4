// Real-time benchmark: HR records pushed to POST /hooks/hr reach a real slapd through the inbox,
// a REALTIME run and an EXPORT run: the API in this process, the worker a separate `metasync worker`
// process as `metasync serve` runs it, the burst's sender a third, over a private embedded PostgreSQL.
//  1. single pushes, one at a time: push -> the entry is readable in slapd (ldapts polling every 5 ms);
//  2. a burst of single-record pushes at a fixed rate: push accepted -> its export sent (the
//     database's own timestamps: inbox received_at -> the CREATE's EXPORTED time), then every entry
//     counted in slapd; peak RSS of the API process and of the worker throughout.
//  3. with --kill-at-ms N, the worker is SIGKILLed N ms into the burst and a new one started at
//     once, as a supervisor would: the killed runs are taken over once their heartbeat is stale
//     (30 s), and every push must still be applied exactly once (bench/realtime-once.ts).
// Usage: npx tsx bench/realtime.ts [--singles 200] [--burst 10000] [--rate 1000] [--kill-at-ms 5000]

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client } from "ldapts";
import { buildApp } from "../src/server/app.ts";
import { startSlapd } from "../test/helpers/slapd.ts";
import { openBenchServices } from "./harness.ts";
import { cpuSecondsTree, type ProductProcess, pidFromFile, rssBytes, startWorkerOn } from "./product/processes.ts";
import { countBurstEffects, describeCounts, exactlyOnce } from "./realtime-once.ts";

const { values } = parseArgs({
  options: {
    singles: { type: "string", default: "200" },
    burst: { type: "string", default: "10000" },
    rate: { type: "string", default: "1000" },
    "kill-at-ms": { type: "string" },
  },
});
const SINGLES = Number(values.singles);
const BURST = Number(values.burst);
const RATE = Number(values.rate);
const KILL_AT_MS = values["kill-at-ms"] === undefined ? null : Number(values["kill-at-ms"]);

// PostgreSQL's CPU is split by whose connections it served: this process's (the API's) and the
// worker's, by their application_name (libpq's PGAPPNAME, read by node-postgres).
process.env.PGAPPNAME = "metasync-api";
const secretKey = randomBytes(32).toString("hex");
const WEBHOOK_SECRET = randomBytes(24).toString("hex");
const bench = await openBenchServices({ secretKey });
const { services, dir } = bench;
const slapd = await startSlapd();
let peakRss = 0;
let peakWorkerRss = 0;
let worker: ProductProcess | null = null;
const sampler = setInterval(() => {
  // rss() alone: memoryUsage() walks the heap's spaces, ~580 ms of this process's CPU in a burst
  // (a profile), counted as the API's CPU below.
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  if (worker) peakWorkerRss = Math.max(peakWorkerRss, rssBytes(worker.child.pid));
}, 100);

const hrFile = path.join(dir, "hr.csv");
writeFileSync(hrFile, "employeeId,givenName,sn,department\n");
const hr = await services.systems.create({
  name: "hr",
  kind: "CSV",
  config: { path: hrFile, anchor: "employeeId", objectType: "person" },
  realtime: { enabled: true, windowMs: 10, batchSize: 1000, webhookSecret: WEBHOOK_SECRET },
});
await services.connectionActions.refreshSchema(hr.id);
const ldap = await services.systems.create({
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
await services.connectionActions.refreshSchema(ldap.id);
await services.db.prisma.syncRule.create({
  data: {
    name: "hr-in",
    connectedSystemId: hr.id,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
    attributeFlows: ["employeeId", "givenName", "sn", "department"].map((a) => ({ target: a, source: a })),
  },
});
await services.db.prisma.syncRule.create({
  data: {
    name: "directory-out",
    connectedSystemId: ldap.id,
    direction: "OUTBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    provisionToConnector: true,
    attributeFlows: [
      { target: "dn", expression: `'uid=' & $lowercase(employeeId) & ',ou=people,${slapd.baseDn}'` },
      { target: "uid", expression: "$lowercase(employeeId)" },
      { target: "cn", expression: "givenName & ' ' & sn" },
      { target: "sn", source: "sn" },
      { target: "givenName", source: "givenName" },
      { target: "departmentNumber", source: "department" },
    ],
  },
});

const app = buildApp(services);
const { url } = await app.start();
const startWorker = () => startWorkerOn(services.db.url, secretKey, dir, { PGAPPNAME: "metasync-worker" });
worker = await startWorker();

const record = (id: string) => ({
  op: "upsert",
  objectType: "person",
  anchor: id,
  attributes: { employeeId: id, givenName: "Zoë", sn: `Þórsdóttir ${id}`, department: "Engineering" },
});
async function push(id: string) {
  const res = await fetch(`${url}/hooks/hr`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ records: [record(id)] }),
  });
  if (res.status !== 202) throw new Error(`push ${id}: ${res.status} ${await res.text()}`);
}
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

const reader = new Client({ url: slapd.url });
await reader.bind(slapd.bindDn, slapd.password);
const present = async (id: string) => {
  try {
    const { searchEntries } = await reader.search(`uid=${id.toLowerCase()},ou=people,${slapd.baseDn}`, { scope: "base" });
    return searchEntries.length > 0;
  } catch {
    return false;
  }
};

// 1. One at a time.
const singles: number[] = [];
for (let i = 0; i < SINGLES; i++) {
  const id = `S${i}`;
  const t0 = performance.now();
  await push(id);
  while (!(await present(id))) await new Promise((r) => setTimeout(r, 5));
  singles.push(performance.now() - t0);
}
singles.sort((a, b) => a - b);

// 2. A burst at RATE pushes a second, each push one record, signed, sent by a separate process
// (bench/realtime-sender.ts) so that the API process's CPU and memory are its own.
const sender = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    fileURLToPath(new URL("./realtime-sender.ts", import.meta.url)),
    `${url}/hooks/hr`,
    WEBHOOK_SECRET,
    String(BURST),
    String(RATE),
  ],
  { stdio: ["ignore", "pipe", "pipe"] },
);
let senderErr = "";
sender.stderr.on("data", (d: Buffer) => {
  senderErr = (senderErr + d.toString()).slice(-4000);
});
const postgresPid = pidFromFile(path.join(dir, "pg", "postmaster.pid"));
const slapdPid = pidFromFile(path.join(slapd.dir, "slapd.pid"));
const cpu = () => ({
  api: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
  worker: cpuSecondsTree(worker?.child.pid),
  postgres: cpuSecondsTree(postgresPid),
  slapd: cpuSecondsTree(slapdPid),
});
// CPU seconds of the live PostgreSQL backends by application name (a backend that exits meanwhile
// is left out of the split, not of the PostgreSQL total).
const backendCpu = async () => {
  const { rows } = await services.db.pool.query<{ pid: number; app: string }>(
    "SELECT pid, application_name AS app FROM pg_stat_activity WHERE application_name LIKE 'metasync-%'",
  );
  const seconds = new Map<number, { app: string; s: number }>();
  for (const r of rows) seconds.set(r.pid, { app: r.app, s: cpuSecondsTree(r.pid) });
  return seconds;
};
const backendsBefore = await backendCpu();
const cpuBefore = cpu();
const { rows: burstAt } = await services.db.pool.query<{ at: Date }>("SELECT clock_timestamp() AS at");
const burstStart = performance.now();
// What the kill interrupted: the runs the dead worker held (taken over by the new one after 30 s).
const killed: { at?: number; running: string[] } = { running: [] };
const killing =
  KILL_AT_MS === null
    ? null
    : new Promise<void>((resolve, reject) =>
        setTimeout(() => {
          const dead = worker!;
          dead.child.once("exit", () => {
            services.db.pool
              .query<{ r: string }>("SELECT profile::text || ' ' || processed AS r FROM run WHERE status = 'RUNNING'")
              .then(async ({ rows }) => {
                killed.at = (performance.now() - burstStart) / 1000;
                killed.running = rows.map((x) => x.r);
                worker = await startWorker();
                resolve();
              })
              .catch(reject);
          });
          dead.child.kill("SIGKILL");
        }, KILL_AT_MS),
      );
let senderOut = "";
sender.stdout.on("data", (d: Buffer) => {
  senderOut += d.toString();
});
const senderExit = await new Promise<number | null>((resolve) => sender.once("exit", resolve));
if (senderExit !== 0) {
  await stopAll();
  throw new Error(`the sender exited ${senderExit}: ${senderErr}`);
}
const { seconds: senderSeconds, cpuSeconds: senderCpu } = JSON.parse(senderOut.trim().split("\n").at(-1)!) as {
  seconds: number;
  cpuSeconds: number;
};
const pushSeconds = senderSeconds;
await killing;
// Until every burst record's CREATE is exported (or 5 minutes).
const deadline = Date.now() + 5 * 60_000;
for (;;) {
  // A cheap look first (the waiting-inbox and open-exports indexes): counting every exported
  // CREATE each time took ~35 ms of PostgreSQL time per poll (18 polls: 665 ms, under load), counted in the figures below.
  const { rows: busy } = await services.db.pool.query<{ busy: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM inbox_entry WHERE connected_system_id = $1 AND applied_at IS NULL)
         OR EXISTS (SELECT 1 FROM pending_export WHERE connected_system_id = $2 AND status IN ('PENDING', 'EXECUTING', 'FAILED')) AS busy`,
    [hr.id, ldap.id],
  );
  if (busy[0]!.busy && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    continue;
  }
  const { rows } = await services.db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pending_export WHERE connected_system_id = $1 AND change_type = 'CREATE'
       AND status IN ('EXPORTED', 'CONFIRMED')`,
    [ldap.id],
  );
  if (rows[0]!.n >= SINGLES + BURST || Date.now() > deadline) break;
  await new Promise((r) => setTimeout(r, 200));
}
const drainedSeconds = (performance.now() - burstStart) / 1000;
const cpuAfter = cpu();
const backendsAfter = await backendCpu();
const pgBy = (app: string) =>
  ([...backendsAfter]
    .filter(([, b]) => b.app === app)
    .reduce((sum, [pid, b]) => sum + b.s - (backendsBefore.get(pid)?.s ?? 0), 0) *
    1000) /
  BURST;
const { rows: latency } = await services.db.pool.query<{
  p50: number;
  p99: number;
  max: number;
  n: number;
  waited: number[];
  planned: number[];
  sent: number[];
}>(
  `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::float8 AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY s)::float8 AS p99,
          max(s)::float8 AS max, count(*)::int AS n,
          percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY waited)::float8[] AS waited,
          percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY planned)::float8[] AS planned,
          percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY sent)::float8[] AS sent
     FROM (SELECT EXTRACT(EPOCH FROM pe.updated_at - e.received_at) AS s,
                  EXTRACT(EPOCH FROM r.started_at - e.received_at) AS waited,
                  EXTRACT(EPOCH FROM r.finished_at - r.started_at) AS planned,
                  EXTRACT(EPOCH FROM pe.updated_at - r.finished_at) AS sent
             FROM inbox_entry e
             JOIN connector_space_object c ON c.connected_system_id = $2 AND c.anchor IS NOT NULL
             JOIN pending_export pe ON pe.connector_space_object_id = c.id AND pe.change_type = 'CREATE'
                                   AND pe.status IN ('EXPORTED', 'CONFIRMED')
             JOIN metaverse_object m ON m.id = c.metaverse_object_id
             JOIN run r ON r.id = pe.planning_run_id
            WHERE e.connected_system_id = $1 AND e.anchor LIKE 'B%' AND m.attributes->>'employeeId' = e.anchor) x`,
  [hr.id, ldap.id],
);
const { searchEntries } = await reader.search(`ou=people,${slapd.baseDn}`, {
  scope: "one",
  filter: "(uid=b*)",
  attributes: ["uid"],
  sizeLimit: 0,
  paged: { pageSize: 1000 },
});
const runs = await services.db.pool.query<{ profile: string; n: number }>(
  "SELECT profile::text AS profile, count(*)::int AS n FROM run WHERE trigger = 'REALTIME' GROUP BY 1 ORDER BY 1",
);
// Where a burst push's time goes: how long the burst's runs waited in the queue and ran, and how
// much each took.
const { rows: burstRuns } = await services.db.pool.query<{
  profile: string;
  n: number;
  processed: number;
  queued: number;
  ran: number;
  ranMax: number;
}>(
  `SELECT profile::text AS profile, count(*)::int AS n, avg(processed)::float8 AS processed,
          percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM started_at - created_at))::float8 AS queued,
          percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM finished_at - started_at))::float8 AS ran,
          max(EXTRACT(EPOCH FROM finished_at - started_at))::float8 AS "ranMax"
     FROM run WHERE trigger = 'REALTIME' AND created_at >= $1 GROUP BY 1 ORDER BY 1`,
  [burstAt[0]!.at],
);
clearInterval(sampler);

const l = latency[0]!;
const ms = (s: number) => `${Math.round(s * 1000)} ms`;
console.log(
  `single pushes -> entry readable in slapd (${SINGLES}): p50 ${Math.round(quantile(singles, 0.5))} ms, p99 ${Math.round(quantile(singles, 0.99))} ms, max ${Math.round(singles.at(-1)!)} ms`,
);
console.log(
  `burst: ${BURST} pushes sent in ${pushSeconds.toFixed(1)} s (${Math.round(BURST / pushSeconds)}/s asked ${RATE}/s), all exported after ${drainedSeconds.toFixed(1)} s`,
);
console.log(
  `burst push -> export sent (${l.n}): p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)}; entries in slapd: ${searchEntries.length}`,
);
console.log(
  `runs: ${runs.rows.map((r) => `${r.profile} ${r.n}`).join(", ")}; peak RSS: API ${Math.round(peakRss / 2 ** 20)} MB, worker ${Math.round(peakWorkerRss / 2 ** 20)} MB`,
);

console.log(
  `  of which, p50 / p99: in the inbox until its run started ${ms(l.waited[0]!)} / ${ms(l.waited[1]!)}; its run, start to end ${ms(l.planned[0]!)} / ${ms(l.planned[1]!)}; run end to export sent ${ms(l.sent[0]!)} / ${ms(l.sent[1]!)}`,
);
for (const r of burstRuns)
  console.log(
    `burst ${r.profile} runs: ${r.n}, ${Math.round(r.processed)} objects each on average; queued p50 ${ms(r.queued)}, ran p50 ${ms(r.ran)}, max ${ms(r.ranMax)}`,
  );

// CPU milliseconds each process spent per burst push, from the burst's start until all were
// exported: the cost that decides how many pushes a second fit on the machine, whatever its load.
const perPush = (k: keyof typeof cpuAfter) => ((cpuAfter[k] - cpuBefore[k]) * 1000) / BURST;
if (killed.at !== undefined) {
  // The killed worker's CPU is lost with it, so there is no per-push CPU; the latencies above
  // include the pushes that waited for the takeover.
  const counts = await countBurstEffects(services.db.pool, { source: hr.id, target: ldap.id }, "B", searchEntries.length);
  console.log(
    `worker SIGKILLed ${killed.at.toFixed(1)} s into the burst, holding ${killed.running.join(", ") || "no run"}; ` +
      `applied exactly once: ${exactlyOnce(counts, BURST) ? "yes" : "NO"} (${describeCounts(counts)})`,
  );
} else
  console.log(
    `CPU per burst push: API ${perPush("api").toFixed(2)} ms, worker ${perPush("worker").toFixed(2)} ms, PostgreSQL ${perPush("postgres").toFixed(2)} ms (API's connections ${pgBy("metasync-api").toFixed(2)}, worker's ${pgBy("metasync-worker").toFixed(2)}), slapd ${perPush("slapd").toFixed(2)} ms, the sender ${((senderCpu * 1000) / BURST).toFixed(2)} ms; load average ${loadavg()[0]!.toFixed(1)}`,
  );

await stopAll();

async function stopAll() {
  clearInterval(sampler);
  await reader.unbind().catch(() => {});
  await worker?.stop();
  await app.stop();
  await services.queue.stop().catch(() => {});
  await slapd.stop();
  await bench.close();
}
