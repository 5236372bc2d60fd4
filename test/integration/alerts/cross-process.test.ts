import { createHmac, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReadySystem, okFactory, spawnWorkerProcess, waitFor, waitForStatus } from "../../fixtures/runs.ts";
import { startAlertReceiver } from "../../helpers/alert-receiver.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

const SECRET = "cross-process-secret-0123456789";
// The worker process opens the endpoint's sealed secret: both processes share the key.
const SECRET_KEY = randomBytes(32).toString("hex");
let app: TestApp;
let receiver: Awaited<ReturnType<typeof startAlertReceiver>>;
let worker: Awaited<ReturnType<typeof spawnWorkerProcess>> | null = null;

beforeAll(async () => {
  receiver = await startAlertReceiver();
  // This process is an API without a worker; runs and deliveries happen in another process.
  const services = await createTestServices({ secretKey: SECRET_KEY }, { connectorFactory: okFactory });
  app = await startTestApp(services);
});
afterAll(async () => {
  worker?.child.kill("SIGTERM");
  await worker?.exited;
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  await receiver?.stop();
});

describe("alerts across processes", () => {
  it("a run failing in a worker process reaches this API's alerts subscribers, and that worker delivers the signed webhook", async () => {
    const created = await app.gql("mutation($i: AlertEndpointInput!) { createAlertEndpoint(input: $i) { id } }", {
      i: { name: "ops", url: receiver.url("/ops"), secret: SECRET, events: ["RUN_FAILED"] },
    });
    expect(created.errors).toBeUndefined();
    const received: any[] = [];
    const ws = app.ws();
    ws.subscribe(
      { query: "subscription { alerts { event summary run { id status } connectedSystem { name } } }" },
      { next: (m) => void received.push(m.data?.alerts), error: () => {}, complete: () => {} },
    );
    await new Promise((r) => setTimeout(r, 300));

    worker = await spawnWorkerProcess(
      app.services.db.url,
      { total: 10, batchSize: 5, permanentError: true },
      { WORKER_SECRET_KEY: SECRET_KEY },
    );
    const system = await createReadySystem(app.services, "hr-elsewhere");
    const started = await app.services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
    const run = await waitForStatus(app.services, started.run.id, ["COMPLETED", "FAILED", "PARTIAL"], 30_000);
    expect(run.status).toBe("FAILED");

    const alert = await waitFor(async () => received[0]);
    expect(alert).toMatchObject({ event: "RUN_FAILED", run: { status: "FAILED" }, connectedSystem: { name: "hr-elsewhere" } });
    const request = await waitFor(async () => receiver.received.find((r) => r.path === "/ops"), 20_000);
    const [, t, mac] = /^t=(\d+),v1=([0-9a-f]+)$/.exec(String(request.headers["x-metasync-signature"]))!;
    expect(mac).toBe(createHmac("sha256", SECRET).update(`${t}.${request.body}`).digest("hex"));
    expect(JSON.parse(request.body)).toMatchObject({ event: "RUN_FAILED", run: { id: started.run.id, status: "FAILED" } });
    const delivery = await waitFor(() =>
      app.services.db.prisma.alertDelivery.findFirst({ where: { endpointName: "ops", status: "DELIVERED" } }),
    );
    expect(delivery).toMatchObject({ attemptCount: 1, lastStatusCode: 200 });
  });
});
