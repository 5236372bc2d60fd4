import net from "node:net";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { pauseRun } from "../../src/jobs/pause.ts";
import type { Services } from "../../src/services.ts";
import {
  createReadySystem,
  ensureItemTable,
  FAST_RUN_OPTIONS,
  okFactory,
  spawnWorkerProcess,
  waitFor,
  waitForStatus,
} from "../fixtures/runs.ts";
import { type CliRun, runCli } from "../helpers/cli.ts";
import { createTestDatabaseUrl } from "../helpers/database.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";

// `metasync serve --no-worker` SIGKILLed while graphql-ws clients (graphql-ws's own client, with
// its retry) follow runs that a separate worker process executes, then started again on the same
// port. Each client reconnects by itself, gets the run as it is now first, and ends with the final
// status of a run that finished while the API was down, and of one that finished after. `npm
// test` runs 20 clients; RELIABILITY_SIZE=full 200.
const FULL = process.env.RELIABILITY_SIZE === "full";
const CLIENTS = FULL ? 200 : 20;

const SUBSCRIPTION = `subscription ($id: ID!) { runProgress(runId: $id) { id status progress { processed } } }`;
type Message = { status: string; progress: { processed: number } };

let url: string;
let services: Services;
let port: number;
let api: CliRun | undefined;
let worker: Awaited<ReturnType<typeof spawnWorkerProcess>> | undefined;
const clients: ReturnType<typeof createClient>[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startApi() {
  api = runCli(["serve", "--no-worker"], { PORT: String(port), DATABASE_URL: url, LOG_LEVEL: "info" });
  await api.waitFor(/listening on http/, 60_000);
}

/** A client as an application would write it: retry forever, a short wait between attempts. */
function follower(runId: string) {
  const seen: (Message | "reconnected")[] = [];
  let connections = 0;
  const client = createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait: () => new Promise((r) => setTimeout(r, 100 + Math.random() * 200)),
    on: {
      connected: () => {
        if (connections++ > 0) seen.push("reconnected");
      },
    },
  });
  clients.push(client);
  const done = new Promise<void>((resolve, reject) => {
    client.subscribe<{ runProgress: Message }>(
      { query: SUBSCRIPTION, variables: { id: Buffer.from(`Run:${runId}`).toString("base64") } },
      {
        next: (m) => {
          if (m.errors) reject(new Error(JSON.stringify(m.errors)));
          else seen.push(m.data!.runProgress);
        },
        error: reject,
        complete: resolve,
      },
    );
  });
  done.catch(() => {});
  return { seen, done };
}

beforeAll(async () => {
  url = await createTestDatabaseUrl();
  services = await createTestServices({}, { databaseUrl: url, connectorFactory: okFactory, runOptions: FAST_RUN_OPTIONS });
  await ensureItemTable(services.db.pool);
  port = await freePort();
  // pg-boss's schema first, so that the API and the worker (each seconds loading its modules) can
  // start side by side on this fresh database.
  await services.queue.start();
  // Each run: 30 batches of 4 items, 250 ms apart (about 7.5 s; 12 s for 200 clients): the first
  // run must still be going when every client has seen it RUNNING; the second is paused while the
  // API is down, however long it takes to start again.
  // Both settled before a failure is thrown, so that afterAll stops whichever did start.
  const started = await Promise.allSettled([
    startApi(),
    spawnWorkerProcess(url, { total: 120, batchSize: 4, delayMs: FULL ? 400 : 250 }, { WORKER_CONCURRENCY: "2" }),
  ]);
  if (started[1].status === "fulfilled") worker = started[1].value;
  for (const s of started) if (s.status === "rejected") throw s.reason;
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  api?.child.kill("SIGKILL");
  worker?.child.kill("SIGKILL");
  await Promise.all([api?.exit, worker?.exited]);
  await closeTestServices(services);
});

describe("the API process killed (SIGKILL) under graphql-ws subscribers", { timeout: 240_000 }, () => {
  it("clients reconnect, get each run's current state first, and the final status of runs that ended while the API was down", async () => {
    const start = async (name: string) => {
      const system = await createReadySystem(services, name);
      const started = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
      if (started.outcome !== "ACCEPTED") throw new Error(started.outcome);
      return started.run.id;
    };
    const early = await start("ends-while-down");
    const followers = Array.from({ length: CLIENTS }, () => follower(early));
    // Every client has seen the run going before the API dies.
    await waitFor(async () => followers.every((f) => f.seen.some((m) => m !== "reconnected" && m.status === "RUNNING")), 60_000);

    api!.child.kill("SIGKILL");
    await api!.exit;
    const ended = await waitForStatus(services, early, ["COMPLETED"], 60_000);
    // A second run starts while the API is down and is paused there, so it is still going (PAUSED,
    // holding its checkpoint) however long the API takes to come back; resumed once it is.
    const late = await start("ends-after-restart");
    const lateFollowers = Array.from({ length: CLIENTS }, () => follower(late));
    await waitFor(async () => (await services.db.prisma.run.findUniqueOrThrow({ where: { id: late } })).processed > 0, 30_000);
    await pauseRun({ pool: services.db.pool, bus: services.bus }, late);
    const paused = await waitForStatus(services, late, ["PAUSED"], 30_000);
    await startApi();
    await waitFor(async () => lateFollowers.every((f) => f.seen.length > 0), 60_000);
    const resumed = await services.startGate.resume(late);
    expect(resumed.outcome).toBe("ACCEPTED");

    await Promise.all([...followers, ...lateFollowers].map((f) => f.done));
    for (const f of followers) {
      // Reconnected once, and the first message after it is the run as the database holds it.
      const at = f.seen.indexOf("reconnected");
      expect(at).toBeGreaterThan(0);
      expect(f.seen[at + 1]).toEqual({ id: expect.any(String), status: "COMPLETED", progress: { processed: ended.processed } });
      expect(f.seen.at(-1)).toMatchObject({ status: "COMPLETED", progress: { processed: 120 } });
    }
    const lateEnd = await services.db.prisma.run.findUniqueOrThrow({ where: { id: late } });
    expect(lateEnd.status).toBe("COMPLETED");
    for (const f of lateFollowers) {
      const messages = f.seen.filter((m): m is Message => m !== "reconnected");
      // First message: the run as it was when the client got through: paused at its checkpoint.
      expect(messages[0]).toEqual({ id: expect.any(String), status: "PAUSED", progress: { processed: paused.processed } });
      const processed = messages.map((m) => m.progress.processed);
      expect(processed).toEqual([...processed].sort((a, b) => a - b));
      expect(messages.at(-1)).toMatchObject({ status: "COMPLETED", progress: { processed: 120 } });
    }
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.ok).toBe(true);
  });
});
