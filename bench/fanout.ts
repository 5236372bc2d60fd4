// npm run bench:fanout [-- --subscribers 1000] [--seconds 20] [--batch-ms 50] [--writers 1]
// The subscription fan-out alone, in a minute instead of a product bench: `metasync serve
// --no-worker` (its own embedded PostgreSQL in a temp DATA_DIR), the graphql-ws subscribers in
// child processes, and a stand-in for a worker that commits a batch of progress on one RUNNING
// run every --batch-ms and notifies (as a worker's batch transaction does), then completes it.
// --writers 2: two stand-ins, each committing every --batch-ms +-25% on its own connection, as the
// partitions of a full sync do (their batches often commit a few ms apart).
// Prints delivery lag, /healthz latency meanwhile and the API's peak RSS as JSON. A message's lag
// is arrival minus the newest timestamp of the row it carries; commitLag is, per committed batch,
// the wait until a subscriber first saw it (or a later batch), which also counts batches folded
// into a later message by the coalescing window.
// BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the API process.
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";
import { busNotification } from "../src/events/bus.ts";
import { RUNS_TOPIC, runTopic } from "../src/jobs/progress.ts";
import { ProductApi } from "./product/api.ts";
import { probeHealth, subscribeMany } from "./product/fanout.ts";
import { memorySampler, productEnv, startProduct } from "./product/processes.ts";

const { values } = parseArgs({
  options: {
    subscribers: { type: "string", default: "1000" },
    seconds: { type: "string", default: "20" },
    "batch-ms": { type: "string", default: "50" },
    writers: { type: "string", default: "1" },
  },
});
const subscribers = Number(values.subscribers);
const seconds = Number(values.seconds);
const batchMs = Number(values["batch-ms"]);
const writers = Number(values.writers);

const base = mkdtempSync(path.join(tmpdir(), "metasync-fanout-"));
chmodSync(base, 0o755); // as root the embedded PostgreSQL runs as "postgres", which must enter it
const dataDir = path.join(base, "data");
mkdirSync(path.join(dataDir, "files"), { recursive: true });
const env = productEnv(dataDir, path.join(dataDir, "files"), { LOG_LEVEL: "warn" });
const stops: (() => Promise<unknown>)[] = [];
try {
  const serve = startProduct("serve", ["serve", "--no-worker"], { ...env, LOG_LEVEL: "info" });
  stops.push(() => serve.stop());
  const url = (await serve.waitFor(/listening on http/, 120_000)).match(/listening on (http:\/\/[\d.]+:\d+)/)?.[1];
  if (!url) throw new Error("serve did not log its URL");
  const api = new ProductApi(url);
  const dbUrl = (await startEmbeddedPostgres(path.join(dataDir, "pg"), "metasync")).url;
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  stops.push(() => db.end());

  const { createConnectedSystem: system } = await api.gql<{ createConnectedSystem: { id: string } }>(
    "mutation ($i: ConnectedSystemInput!) { createConnectedSystem(input: $i) { id } }",
    { i: { name: "fanout", kind: "CSV", config: { path: path.join(dataDir, "files", "people.csv"), anchor: "id" } } },
  );
  const rawSystemId = (await db.query<{ id: string }>("SELECT id FROM connected_system WHERE name = 'fanout'")).rows[0]!.id;

  const fanout = await subscribeMany(api.wsUrl, subscribers, system.id);
  stops.push(() => fanout.close());
  const memory = memorySampler(serve, []);
  stops.push(async () => memory.stop());
  memory.reset();
  const health = probeHealth(url);
  const loadStart = os.loadavg()[0];

  // The run, as the start gate and a worker's claim would leave it, then its batches.
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO run (operation, profile, connected_system_id, connection_settings_id, scope_key, status, started_at, total)
     SELECT 'connector.full_sync', 'FULL_SYNC', cs.id, s.id, 'bench-fanout', 'RUNNING', clock_timestamp(), $2
       FROM connected_system cs JOIN connection_settings s ON s.connected_system_id = cs.id
      WHERE cs.id = $1 LIMIT 1
     RETURNING id`,
    [rawSystemId, Math.ceil((seconds * 1000) / batchMs) * 500 * writers],
  );
  const runId = rows[0]!.id;
  // Subscribers see the run's global ID (Relay: base64 of "Run:<id>").
  const globalRunId = Buffer.from(`Run:${runId}`).toString("base64");
  const notify = async (status: string, client = db) => {
    const payload = { runId, connectedSystemId: rawSystemId, status };
    for (const topic of [runTopic(runId), RUNS_TOPIC]) {
      const n = busNotification(topic, payload);
      await client.query("SELECT pg_notify($1, $2)", [n.channel, n.message]);
    }
  };
  // Every batch's progress timestamp, as subscribers see it (milliseconds).
  const commits: number[] = [];
  const t0 = performance.now();
  const write = async (client: pg.Client) => {
    while (performance.now() - t0 < seconds * 1000) {
      await client.query("BEGIN");
      // The column has no time zone; Prisma (and so the API) reads it as UTC, as extract(epoch) does.
      const stamped = await client.query<{ at: string }>(
        `UPDATE run SET processed = processed + 500, batch = batch + 1, progress_updated_at = clock_timestamp() WHERE id = $1
         RETURNING extract(epoch FROM progress_updated_at) * 1000 AS at`,
        [runId],
      );
      commits.push(Math.round(Number(stamped.rows[0]!.at)));
      await notify("RUNNING", client);
      await client.query("COMMIT");
      await new Promise((r) => setTimeout(r, writers > 1 ? batchMs * (0.75 + Math.random() / 2) : batchMs));
    }
  };
  const clients = [db];
  for (let n = 1; n < writers; n++) {
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    stops.push(() => client.end());
    clients.push(client);
  }
  await Promise.all(clients.map(write));
  commits.sort((a, b) => a - b);
  await db.query("BEGIN");
  await db.query("UPDATE run SET status = 'COMPLETED', finished_at = clock_timestamp() WHERE id = $1", [runId]);
  await notify("COMPLETED");
  await db.query("COMMIT");
  await fanout.deliveredFinal(globalRunId, Number(process.env.FANOUT_TIMEOUT_MS ?? 120_000));
  const healthz = await health.stop();
  const stats = await fanout.stats(globalRunId, commits);
  console.log(
    JSON.stringify({
      subscribers,
      seconds,
      batchMs,
      writers,
      deliveries: stats.deliveries,
      subscribersDone: stats.subscribersDone,
      lagP50Ms: stats.lagP50Ms,
      lagP99Ms: stats.lagP99Ms,
      finalStatusLagP50Ms: stats.finalLagP50Ms,
      finalStatusLagP99Ms: stats.finalLagP99Ms,
      commitLagP50Ms: stats.commitLagP50Ms,
      commitLagP99Ms: stats.commitLagP99Ms,
      healthz,
      apiPeakRssMb: memory.read().apiMb,
      loadAverage: { start: loadStart, end: os.loadavg()[0] },
    }),
  );
} finally {
  for (const stop of stops.reverse()) await stop().catch((e) => console.error(`cleanup: ${e}`));
  rmSync(base, { recursive: true, force: true });
}
