import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReadySystem, FAST_RUN_OPTIONS, okFactory } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestServices } from "../../helpers/services.ts";

let app: TestApp;
const keys: Record<string, string> = {};
let systemId: string;

beforeAll(async () => {
  const services = await createTestServices(
    { startRunRateLimit: { burst: 3, perSecond: 0.001 } },
    { connectorFactory: okFactory, runOptions: FAST_RUN_OPTIONS },
  );
  app = await startTestApp(services);
  for (const role of ["READER", "OPERATOR", "ADMIN"] as const) keys[role] = (await services.apiKeys.create({ role })).key;
  systemId = (await createReadySystem(services, "hr")).id;
});
afterAll(() => app?.stop());

const START =
  "mutation($id: ID!, $p: RunProfile!) { startRun(input: { connectedSystemId: $id, profile: $p }) { outcome run { id } } }";
const as = (role: string) => ({ authorization: `Bearer ${keys[role]}` });

describe("run mutations by role, and the startRun rate limit", () => {
  it("readers may not start or cancel runs; operators may; the same key is rate limited after its burst", async () => {
    const denied = await app.gql(START, { id: systemId, p: "FULL_IMPORT" }, as("READER"));
    expect(denied.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");

    const accepted = await app.gql(START, { id: systemId, p: "FULL_IMPORT" }, as("OPERATOR"));
    expect(accepted.data.startRun.outcome).toBe("ACCEPTED");
    const runId = accepted.data.startRun.run.id;
    const cancelDenied = await app.gql("mutation($id: ID!) { cancelRun(id: $id) { status } }", { id: runId }, as("READER"));
    expect(cancelDenied.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    // Pausing and resuming are an operator's too: a reader cannot hold a run's scope or restart it.
    for (const m of ["pauseRun(id: $id) { status }", "resumeRun(id: $id) { outcome }"]) {
      const denied = await app.gql(`mutation($id: ID!) { ${m} }`, { id: runId }, as("READER"));
      expect(denied.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    }
    const cancelled = await app.gql("mutation($id: ID!) { cancelRun(id: $id) { status } }", { id: runId }, as("OPERATOR"));
    expect(cancelled.data.cancelRun.status).toBe("CANCELLED");

    // Burst of 3 per key: the operator used one; two more pass, the fourth is refused.
    for (let i = 0; i < 2; i++)
      expect((await app.gql(START, { id: systemId, p: "FULL_IMPORT" }, as("OPERATOR"))).errors).toBeUndefined();
    const limited = await app.gql(START, { id: systemId, p: "FULL_IMPORT" }, as("OPERATOR"));
    expect(limited.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    // HTTP clients and proxies back off without reading the body.
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(limited.errors?.[0]?.extensions?.http).toBeUndefined();
    // Another key has its own bucket.
    expect((await app.gql(START, { id: systemId, p: "FULL_IMPORT" }, as("ADMIN"))).errors).toBeUndefined();
  });
});
