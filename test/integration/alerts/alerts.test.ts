import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId, waitForRun } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../../fixtures/runs.ts";
import { startAlertReceiver } from "../../helpers/alert-receiver.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

const SECRET = "alert-secret-0123456789abcdef";
const dir = mkdtempSync(path.join(tmpdir(), "metasync-alerts-"));
let app: TestApp;
let worker: WorkerHandle;
let receiver: Awaited<ReturnType<typeof startAlertReceiver>>;

// Short retries for the test only: 3 attempts about a second apart, 500 ms per attempt.
const FAST_ALERTS = { retryLimit: 2, retryDelaySeconds: 1, retryDelayMaxSeconds: 1, timeoutMs: 500, pollingIntervalSeconds: 0.5 };

beforeAll(async () => {
  receiver = await startAlertReceiver();
  const services = await createTestServices({}, { runOptions: FAST_RUN_OPTIONS, alertOptions: FAST_ALERTS });
  app = await startTestApp(services);
  worker = await startWorker({ services, executors: defaultExecutors, scheduler: false });
  // main takes every event the runs below raise; the others one event each, with their behaviour.
  await endpoint("main", [
    "RUN_FAILED",
    "RUN_PARTIAL",
    "RUN_BLOCKED",
    "EXPORT_ERROR",
    "BREAKER_HOLD",
    "THRESHOLD_HOLD",
    "RUN_STALE",
  ]);
  await endpoint("flaky", ["RUN_BLOCKED"]);
  await endpoint("down", ["RUN_PARTIAL"]);
  await endpoint("hang", ["RUN_FAILED"]);
});
afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  await receiver?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const CREATE_ENDPOINT = `mutation($i: AlertEndpointInput!) { createAlertEndpoint(input: $i) { id name url events enabled } }`;
const DELIVERIES = `query($runId: ID) {
  alertDeliveries(first: 50, runId: $runId) {
    totalCount
    edges { node { id event runId endpointName status attemptCount lastStatusCode lastError finishedAt
      attempts { attempt statusCode error startedAt finishedAt }
      alert { id event summary payload run { id status } } } }
  }
}`;

const endpoint = (name: string, events: string[]) =>
  ok(app, CREATE_ENDPOINT, { i: { name, url: receiver.url(`/${name}`), secret: SECRET, events } });

async function csvSystem(name: string, content: string | null) {
  const file = path.join(dir, `${name}.csv`);
  if (content !== null) writeFileSync(file, content);
  const id = rawId(
    (await ok(app, CREATE_SYSTEM, { i: { name, kind: "CSV", config: { path: file, anchor: "employeeId" } } }))
      .createConnectedSystem.id,
  );
  if (content !== null) await ok(app, REFRESH, { id });
  await ok(app, CREATE_RULE, {
    i: {
      name: `${name}-in`,
      connectedSystemId: id,
      direction: "INBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      projectToMetaverse: true,
      joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
      attributeFlows: [{ target: "employeeId", source: "employeeId" }],
    },
  });
  return { id, file };
}

async function startRun(connectedSystemId: string, profile: string) {
  const data = await ok(app, "mutation($i: StartRunInput!) { startRun(input: $i) { outcome reasonCode run { id } } }", {
    i: { connectedSystemId, profile },
  });
  return { outcome: data.startRun.outcome as string, reasonCode: data.startRun.reasonCode, runId: rawId(data.startRun.run.id) };
}

type Delivery = {
  event: string;
  endpointName: string;
  status: string;
  attemptCount: number;
  lastStatusCode: number | null;
  lastError: string | null;
  attempts: { attempt: number; statusCode: number | null; error: string | null; startedAt: string }[];
  alert: { id: string; event: string; summary: string; payload: any; run: { id: string; status: string } };
};

/** The run's deliveries once `done` holds for them (read through GraphQL). */
async function deliveriesOf(runId: string, done: (ds: Delivery[]) => boolean, timeoutMs = 20_000): Promise<Delivery[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const data = await ok(app, DELIVERIES, { runId });
    const ds = data.alertDeliveries.edges.map((e: { node: Delivery }) => e.node) as Delivery[];
    if (done(ds)) return ds;
    if (Date.now() > until) throw new Error(`deliveries of ${runId} never settled: ${JSON.stringify(ds)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const settled = (ds: Delivery[], n: number) => ds.length >= n && ds.every((d) => d.status !== "PENDING");

/** Check the signature as a receiver would, from the raw body and the shared secret. */
function expectSigned(request: { headers: Record<string, unknown>; body: string }) {
  const header = String(request.headers["x-metasync-signature"]);
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  expect(match, header).not.toBeNull();
  const [, t, mac] = match!;
  expect(Math.abs(Number(t) - Date.now() / 1000)).toBeLessThan(300);
  expect(mac).toBe(createHmac("sha256", SECRET).update(`${t}.${request.body}`).digest("hex"));
  expect(createHmac("sha256", "another-secret-0123456789").update(`${t}.${request.body}`).digest("hex")).not.toBe(mac);
}

describe("alert endpoints (GraphQL)", () => {
  it("refuses schemes other than http and https, unknown events and short secrets with BAD_USER_INPUT", async () => {
    for (const url of ["file:///etc/passwd", "ftp://example.org/x", "gopher://127.0.0.1:25/", "not a url"]) {
      const r = await app.gql(CREATE_ENDPOINT, { i: { name: "bad", url, secret: SECRET, events: ["RUN_FAILED"] } });
      expect(r.errors?.[0]?.extensions?.code, url).toBe("BAD_USER_INPUT");
      expect(r.errors?.[0]?.extensions?.path, url).toBe("url");
    }
    const unknown = await app.gql(CREATE_ENDPOINT, {
      i: { name: "bad", url: receiver.url("/x"), secret: SECRET, events: ["RUN_FAILED", "RUN_EXPLODED"] },
    });
    expect(unknown.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(unknown.errors?.[0]?.message).toContain("RUN_EXPLODED");
    const none = await app.gql(CREATE_ENDPOINT, { i: { name: "bad", url: receiver.url("/x"), secret: SECRET, events: [] } });
    expect(none.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "events" });
    const short = await app.gql(CREATE_ENDPOINT, {
      i: { name: "bad", url: receiver.url("/x"), secret: "short", events: ["RUN_FAILED"] },
    });
    expect(short.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "secret" });
    expect(await app.services.db.prisma.alertEndpoint.count({ where: { name: "bad" } })).toBe(0);
  });

  it("stores the secret sealed and never returns it; updates keep it unless a new one is given", async () => {
    const created = (await endpoint("sealed", ["RUN_STALE"])).createAlertEndpoint;
    const twice = await app.gql(CREATE_ENDPOINT, {
      i: { name: "sealed", url: receiver.url("/x"), secret: SECRET, events: ["RUN_STALE"] },
    });
    expect(twice.errors?.[0]?.extensions).toMatchObject({ code: "CONFLICT", name: "sealed" });
    const fields = await ok(app, `{ __type(name: "AlertEndpoint") { fields { name } } }`);
    expect(fields.__type.fields.map((f: { name: string }) => f.name)).not.toContain("secret");
    const listed = await app.gql("{ alertEndpoints { id name url events enabled } }");
    expect(JSON.stringify(listed)).not.toContain(SECRET);
    const row = await app.services.db.prisma.alertEndpoint.findUniqueOrThrow({ where: { id: rawId(created.id) } });
    expect(row.secret).not.toContain(SECRET);
    expect(app.services.secrets.open(row.secret)).toEqual({ secret: SECRET });

    const updated = await ok(
      app,
      "mutation($id: ID!, $i: AlertEndpointUpdateInput!) { updateAlertEndpoint(id: $id, input: $i) { events enabled } }",
      {
        id: created.id,
        i: { events: ["RUN_STALE", "INBOX_AGE"], enabled: false },
      },
    );
    expect(updated.updateAlertEndpoint).toEqual({ events: ["RUN_STALE", "INBOX_AGE"], enabled: false });
    const after = await app.services.db.prisma.alertEndpoint.findUniqueOrThrow({ where: { id: rawId(created.id) } });
    expect(app.services.secrets.open(after.secret)).toEqual({ secret: SECRET });
    const badUpdate = await app.gql(
      "mutation($id: ID!, $i: AlertEndpointUpdateInput!) { updateAlertEndpoint(id: $id, input: $i) { id } }",
      {
        id: created.id,
        i: { url: "javascript:alert(1)" },
      },
    );
    expect(badUpdate.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "url" });
    expect(await ok(app, "mutation($id: ID!) { deleteAlertEndpoint(id: $id) }", { id: created.id })).toEqual({
      deleteAlertEndpoint: true,
    });
    const again = await app.gql("mutation($id: ID!) { deleteAlertEndpoint(id: $id) }", { id: created.id });
    expect(again.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });
});

describe("alerts from real runs", () => {
  it("a FAILED run: signed RUN_FAILED to the endpoint and the alerts subscription; a hanging endpoint ends FAILED and never holds the run", async () => {
    const { id } = await csvSystem("hr-broken", 'employeeId\nE1\n"E2\n');
    const events: any[] = [];
    const ws = app.ws();
    const subscribed = new Promise<void>((resolve, reject) => {
      ws.subscribe(
        {
          query:
            "subscription { alerts(events: [RUN_FAILED]) { event summary runId run { id status } connectedSystem { name } payload } }",
        },
        {
          next: (m) => {
            events.push(m.data?.alerts);
            resolve();
          },
          error: reject,
          complete: () => {},
        },
      );
    });
    // The subscription is live once graphql-ws has subscribed: wait for the server to see it.
    await new Promise((r) => setTimeout(r, 300));

    const start = await startRun(id, "FULL_IMPORT");
    expect(start.outcome).toBe("ACCEPTED");
    const run = await waitForRun(app, start.runId, "FAILED");
    // Run ended while the hanging endpoint had not answered anything yet.
    await subscribed;
    expect(events[0]).toMatchObject({
      event: "RUN_FAILED",
      runId: expect.any(String),
      run: { status: "FAILED" },
      connectedSystem: { name: "hr-broken" },
    });
    expect(rawId(events[0].run.id)).toBe(start.runId);

    const ds = await deliveriesOf(start.runId, (d) => settled(d, 2));
    const main = ds.find((d) => d.endpointName === "main")!;
    expect(main).toMatchObject({
      event: "RUN_FAILED",
      status: "DELIVERED",
      attemptCount: 1,
      lastStatusCode: 200,
      lastError: null,
    });
    const request = receiver.received.find((r) => r.path === "/main" && JSON.parse(r.body).run?.id === start.runId)!;
    expect(request.headers["x-metasync-event"]).toBe("RUN_FAILED");
    expectSigned(request);
    const body = JSON.parse(request.body);
    expect(body).toMatchObject({
      event: "RUN_FAILED",
      id: main.alert.id.length > 36 ? expect.any(String) : main.alert.id,
      connectedSystem: { id, name: "hr-broken" },
      run: { id: start.runId, status: "FAILED", profile: "FULL_IMPORT", error: expect.stringContaining("cannot be read") },
    });
    expect(body).toEqual(main.alert.payload);
    // Timestamps are the run's own, in UTC ISO 8601.
    expect(body.run.finishedAt).toBe(run.finishedAt!.toISOString());

    // The hanging endpoint: every attempt timed out, then FAILED; the run had finished before the first began.
    const hang = ds.find((d) => d.endpointName === "hang")!;
    expect(hang).toMatchObject({ status: "FAILED", attemptCount: 3, lastStatusCode: null });
    expect(hang.attempts.map((a) => a.error)).toEqual(Array(3).fill("no answer within 500 ms"));
    expect(new Date(hang.attempts[0]!.startedAt).getTime()).toBeGreaterThanOrEqual(run.finishedAt!.getTime());
    expect(receiver.received.filter((r) => r.path === "/hang" && JSON.parse(r.body).run?.id === start.runId)).toHaveLength(3);
  });

  it("a BLOCKED start raises RUN_BLOCKED; an endpoint answering 500 then 200 is retried and the log shows both attempts", async () => {
    const { id } = await csvSystem("hr-missing", null);
    const start = await startRun(id, "FULL_IMPORT");
    expect(start.outcome).toBe("BLOCKED");
    const ds = await deliveriesOf(start.runId, (d) => settled(d, 2));
    expect(ds.map((d) => [d.endpointName, d.event, d.status]).sort()).toEqual([
      ["flaky", "RUN_BLOCKED", "DELIVERED"],
      ["main", "RUN_BLOCKED", "DELIVERED"],
    ]);
    const flaky = ds.find((d) => d.endpointName === "flaky")!;
    expect(flaky.attempts.map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, 500, "HTTP 500"],
      [2, 200, null],
    ]);
    const requests = receiver.received.filter((r) => r.path === "/flaky");
    expect(requests).toHaveLength(2);
    for (const r of requests) expectSigned(r);
    expect(requests[0]!.body).toBe(requests[1]!.body);
    expect(flaky.alert.payload.run).toMatchObject({ status: "BLOCKED", reasonCode: start.reasonCode });
  });

  it("a PARTIAL import raises RUN_PARTIAL; an endpoint that always answers 500 ends FAILED after its retries", async () => {
    const { id } = await csvSystem("hr-partial", "employeeId,givenName\nE1,Ada\n,Nobody\nE3,Grace\n");
    const start = await startRun(id, "FULL_IMPORT");
    expect(start.outcome).toBe("ACCEPTED");
    await waitForRun(app, start.runId, "PARTIAL");
    const ds = await deliveriesOf(start.runId, (d) => settled(d, 2));
    const main = ds.find((d) => d.endpointName === "main")!;
    expect(main).toMatchObject({ event: "RUN_PARTIAL", status: "DELIVERED" });
    expect(main.alert.payload.run.counts).toMatchObject({ failed: 1 });
    const down = ds.find((d) => d.endpointName === "down")!;
    expect(down).toMatchObject({
      event: "RUN_PARTIAL",
      status: "FAILED",
      attemptCount: 3,
      lastStatusCode: 500,
      lastError: "HTTP 500",
    });
    expect(down.attempts.map((a) => a.statusCode)).toEqual([500, 500, 500]);
    const failed = await ok(app, "{ alertDeliveries(first: 10, status: [FAILED], event: [RUN_PARTIAL]) { totalCount } }");
    expect(failed.alertDeliveries.totalCount).toBe(1);
  });
});

describe("alerts from exports", () => {
  it("exports left in ERROR raise EXPORT_ERROR; deletes over the delete threshold raise THRESHOLD_HOLD", async () => {
    const hrFile = path.join(dir, "people.csv");
    const targetFile = path.join(dir, "accounts.csv");
    writeFileSync(hrFile, "employeeId,givenName,department\nE1,Ada,R&D\nE2,Alan,R&D\nE3,Grace,R&D\n");
    // E3 is already in the target, unknown to Metasync: provisioning it is refused (ALREADY_EXISTS, permanent).
    writeFileSync(targetFile, "id,givenName,department\nE3,Someone else,R&D\n");
    const create = async (i: Record<string, unknown>) => rawId((await ok(app, CREATE_SYSTEM, { i })).createConnectedSystem.id);
    const hr = await create({ name: "people", kind: "CSV", config: { path: hrFile, anchor: "employeeId" } });
    await ok(app, REFRESH, { id: hr });
    const accounts = await create({
      name: "accounts",
      kind: "CSV",
      deleteThreshold: 1,
      // The older delete threshold alone (the default breaker would hold these deletes too, as BREAKER_HOLD).
      breaker: { enabled: false },
      config: { path: targetFile, anchor: "id" },
    });
    await ok(app, REFRESH, { id: accounts });
    const flows = ["employeeId", "givenName", "department"].map((a) => ({ target: a, source: a }));
    await ok(app, CREATE_RULE, {
      i: {
        name: "people-in",
        connectedSystemId: hr,
        direction: "INBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        projectToMetaverse: true,
        joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
        attributeFlows: flows,
      },
    });
    await ok(app, CREATE_RULE, {
      i: {
        name: "accounts-out",
        connectedSystemId: accounts,
        direction: "OUTBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        provisionToConnector: true,
        scope: "department = 'R&D'",
        deprovision: "DELETE",
        attributeFlows: [
          { target: "id", source: "employeeId" },
          { target: "givenName", source: "givenName" },
          { target: "department", source: "department" },
        ],
      },
    });
    const runToEnd = async (system: string, profile: string, status: string) => {
      const start = await startRun(system, profile);
      expect(start.outcome).toBe("ACCEPTED");
      await waitForRun(app, start.runId, status);
      return start.runId;
    };
    await runToEnd(hr, "FULL_IMPORT", "COMPLETED");
    await runToEnd(hr, "FULL_SYNC", "COMPLETED");
    const firstExport = await runToEnd(accounts, "EXPORT", "PARTIAL");
    const errors = await deliveriesOf(firstExport, (d) => settled(d, 2));
    const exportError = errors.find((d) => d.event === "EXPORT_ERROR" && d.endpointName === "main")!;
    expect(exportError.status).toBe("DELIVERED");
    expect(exportError.alert.payload.details).toMatchObject({
      errors: 1,
      samples: [{ code: "ALREADY_EXISTS", changeType: "CREATE" }],
    });
    expect(errors.find((d) => d.event === "RUN_PARTIAL" && d.endpointName === "main")?.status).toBe("DELIVERED");

    // E1 and E2 leave the scope: two deletes over a threshold of one are held, not sent.
    writeFileSync(hrFile, "employeeId,givenName,department\nE1,Ada,Ops\nE2,Alan,Ops\nE3,Grace,R&D\n");
    await runToEnd(accounts, "FULL_IMPORT", "COMPLETED");
    await runToEnd(hr, "FULL_IMPORT", "COMPLETED");
    // The sync plans the deletes and holds them at once (2 > 1): the alert is the sync run's.
    const sync = await runToEnd(hr, "FULL_SYNC", "COMPLETED");
    const held = await app.services.db.prisma.pendingExport.count({
      where: { connectedSystemId: accounts, changeType: "DELETE", status: "AWAITING_APPROVAL" },
    });
    expect(held).toBe(2);
    const holds = await deliveriesOf(sync, (d) => settled(d, 1));
    expect(holds.map((d) => [d.endpointName, d.event, d.status])).toEqual([["main", "THRESHOLD_HOLD", "DELIVERED"]]);
    expect(holds[0]!.alert.payload).toMatchObject({
      event: "THRESHOLD_HOLD",
      connectedSystem: { id: hr, name: "people" },
      run: { id: sync, profile: "FULL_SYNC", status: "COMPLETED" },
      details: { held: 2, holds: [{ held: 2, connectedSystem: { id: accounts, name: "accounts" } }] },
    });
    // The export run sends nothing of them and raises nothing more.
    const exportRun = await runToEnd(accounts, "EXPORT", "COMPLETED");
    expect(await app.services.db.prisma.alert.count({ where: { runId: exportRun } })).toBe(0);
    expect(
      await app.services.db.prisma.pendingExport.count({ where: { connectedSystemId: accounts, status: "AWAITING_APPROVAL" } }),
    ).toBe(2);
    const request = receiver.received.find((r) => r.path === "/main" && JSON.parse(r.body).event === "THRESHOLD_HOLD")!;
    expectSigned(request);
  });
});
