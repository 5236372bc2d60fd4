import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AlertDeliveryHandle, startAlertDelivery } from "../../../src/alerts/delivery-worker.ts";
import { inboxAgeAlert } from "../../../src/alerts/inbox-alerts.ts";
import { inTransaction } from "../../../src/db/transaction.ts";
import { recoverOrphanedRuns } from "../../../src/jobs/recovery.ts";
import { createReadySystem, FAST_RUN_OPTIONS, okFactory, waitFor } from "../../fixtures/runs.ts";
import { startAlertReceiver } from "../../helpers/alert-receiver.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

const SECRET = "stale-secret-0123456789abcdef";
let app: TestApp;
let delivery: AlertDeliveryHandle;
let receiver: Awaited<ReturnType<typeof startAlertReceiver>>;
const keys: Record<string, string> = {};
const as = (role: string) => ({ authorization: `Bearer ${keys[role]}` });

beforeAll(async () => {
  receiver = await startAlertReceiver();
  const services = await createTestServices(
    {},
    {
      connectorFactory: okFactory,
      runOptions: FAST_RUN_OPTIONS,
      alertOptions: { retryDelaySeconds: 1, pollingIntervalSeconds: 0.5 },
    },
  );
  app = await startTestApp(services);
  delivery = await startAlertDelivery(services);
});
afterAll(async () => {
  await delivery?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  await receiver?.stop();
});

/** As if the run's worker had died: claimed, RUNNING, its heartbeat an hour old. */
async function orphan(runId: string, attempt: "first" | "last") {
  const { pool } = app.services.db;
  await pool.query("UPDATE pgboss.job SET state = 'active' WHERE data->>'runId' = $1", [runId]);
  await pool.query(
    `UPDATE run SET status = 'RUNNING', attempt = ${attempt === "last" ? "max_attempts" : "1"}, worker_id = 'gone-worker',
       started_at = now() - interval '1 hour', heartbeat_at = now() - interval '1 hour' WHERE id = $1`,
    [runId],
  );
}

describe("stale runs", () => {
  it("recovery raises RUN_STALE for each silent worker, and RUN_FAILED when it gives the run up", async () => {
    const created = await app.gql("mutation($i: AlertEndpointInput!) { createAlertEndpoint(input: $i) { id } }", {
      i: { name: "pager", url: receiver.url("/pager"), secret: SECRET, events: ["RUN_STALE", "RUN_FAILED"] },
    });
    expect(created.errors).toBeUndefined();
    const { services } = app;
    const system = await createReadySystem(services, "hr-stale");
    const started = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "MANUAL" });
    const runId = started.run.id;
    const recover = () => recoverOrphanedRuns({ ...services, pool: services.db.pool }, FAST_RUN_OPTIONS.staleAfterMs);

    await orphan(runId, "first");
    expect(await recover()).toBe(1);
    await orphan(runId, "last");
    expect(await recover()).toBe(1);
    const run = await services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
    expect(run.status).toBe("FAILED");

    const alerts = await services.db.prisma.alert.findMany({ where: { runId }, orderBy: { createdAt: "asc" } });
    expect(alerts.map((a) => [a.event, a.dedupeKey])).toEqual([
      ["RUN_STALE", `run:${runId}:RUN_STALE:1`],
      ["RUN_STALE", `run:${runId}:RUN_STALE:${run.maxAttempts}`],
      ["RUN_FAILED", `run:${runId}:RUN_FAILED`],
    ]);
    expect(alerts[0]!.payload).toMatchObject({
      event: "RUN_STALE",
      connectedSystem: { name: "hr-stale" },
      details: { attempt: 1, workerId: "gone-worker" },
    });
    expect(alerts[2]!.payload).toMatchObject({ run: { status: "FAILED", reasonCode: "WORKER_LOST" } });

    const bodies = await waitFor(async () => {
      const got = receiver.received.filter((r) => r.path === "/pager");
      return got.length === 3 ? got : null;
    });
    for (const r of bodies) {
      const [, t, mac] = /^t=(\d+),v1=([0-9a-f]+)$/.exec(String(r.headers["x-metasync-signature"]))!;
      expect(mac).toBe(createHmac("sha256", SECRET).update(`${t}.${r.body}`).digest("hex"));
    }
    expect(bodies.map((r) => JSON.parse(r.body).event).sort()).toEqual(["RUN_FAILED", "RUN_STALE", "RUN_STALE"]);
  });
});

describe("INBOX_AGE", () => {
  it("is raised through the same path once per system and window (for the real-time inbox, which does not exist yet)", async () => {
    const { services } = app;
    const system = await createReadySystem(services, "hr-inbox");
    const now = new Date();
    const alert = () =>
      inboxAgeAlert({
        connectedSystemId: system.id,
        systemName: "hr-inbox",
        depth: 12,
        oldestAgeMs: 90_000,
        limitMs: 60_000,
        now,
      });
    await inTransaction(services.db.pool, (tx) => services.alerts.raise(tx, [alert()]));
    await inTransaction(services.db.pool, (tx) => services.alerts.raise(tx, [alert()]));
    const rows = await services.db.prisma.alert.findMany({ where: { event: "INBOX_AGE" } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      connectedSystemId: system.id,
      runId: null,
      payload: { details: { depth: 12, oldestAgeMs: 90_000 } },
    });
  });
});

describe("roles", () => {
  it("only admins configure endpoints; readers may read the delivery log but not the endpoints", async () => {
    for (const role of ["READER", "OPERATOR", "ADMIN"] as const) keys[role] = (await app.services.apiKeys.create({ role })).key;
    const create = "mutation($i: AlertEndpointInput!) { createAlertEndpoint(input: $i) { id } }";
    const input = { i: { name: "ops", url: receiver.url("/ops"), secret: SECRET, events: ["RUN_FAILED"] } };
    for (const role of ["READER", "OPERATOR"]) {
      const denied = await app.gql(create, input, as(role));
      expect(denied.errors?.[0]?.extensions?.code, role).toBe("FORBIDDEN");
      const list = await app.gql("{ alertEndpoints { id } }", {}, as(role));
      expect(list.errors?.[0]?.extensions?.code, role).toBe("FORBIDDEN");
    }
    const anonymous = await app.gql(create, input);
    expect(anonymous.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const made = await app.gql(create, input, as("ADMIN"));
    expect(made.errors).toBeUndefined();
    const log = await app.gql(
      "{ alertDeliveries(first: 10) { totalCount edges { node { event endpointName status } } } }",
      {},
      as("READER"),
    );
    expect(log.errors).toBeUndefined();
    expect(log.data.alertDeliveries.totalCount).toBe(3);
    // Relay paging, newest first: two pages hold the three deliveries once each.
    const page = `query($after: String) { alertDeliveries(first: 2, after: $after) {
      pageInfo { hasNextPage endCursor } edges { node { id createdAt } } } }`;
    const first = await app.gql(page, {}, as("READER"));
    expect(first.data.alertDeliveries.pageInfo.hasNextPage).toBe(true);
    const second = await app.gql(page, { after: first.data.alertDeliveries.pageInfo.endCursor }, as("READER"));
    expect(second.data.alertDeliveries.pageInfo.hasNextPage).toBe(false);
    const ids = [...first.data.alertDeliveries.edges, ...second.data.alertDeliveries.edges].map(
      (e: { node: { id: string } }) => e.node.id,
    );
    expect(new Set(ids).size).toBe(3);
    const times = [...first.data.alertDeliveries.edges, ...second.data.alertDeliveries.edges].map(
      (e: { node: { createdAt: string } }) => Date.parse(e.node.createdAt),
    );
    expect(times).toEqual([...times].sort((x, y) => y - x));
    const endpointOfLog = await app.gql(
      "{ alertDeliveries(first: 1) { edges { node { endpoint { url } } } } }",
      {},
      as("READER"),
    );
    expect(endpointOfLog.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});
