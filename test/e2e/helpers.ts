import { expect } from "vitest";
import type { TestApp } from "../helpers/app.ts";

/** GraphQL through the public API, failing the test on any error. */
export async function ok<T = any>(app: TestApp, query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await app.gql<T>(query, variables);
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data as T;
}

/** startRun through the start gate, then wait (on the database) for a final status. */
export async function runToEnd(
  app: TestApp,
  connectedSystemId: string,
  profile: string,
  options: { dryRun?: boolean; expect?: string } = {},
) {
  const data = await ok(app, "mutation($i: StartRunInput!) { startRun(input: $i) { outcome reason run { id } } }", {
    i: { connectedSystemId, profile, dryRun: options.dryRun ?? false },
  });
  expect(data.startRun.outcome, data.startRun.reason).toBe("ACCEPTED");
  return waitForRun(app, data.startRun.run.id, options.expect);
}

/** A global or raw id -> the raw uuid the database uses. */
export const rawId = (id: string) => (id.includes("-") ? id : (Buffer.from(id, "base64").toString().split(":")[1] ?? id));

export async function waitForRun(app: TestApp, id: string, expectStatus?: string) {
  const options = { expect: expectStatus };
  const runId = rawId(id);
  for (let i = 0; i < 600; i++) {
    const run = await app.services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
    if (["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"].includes(run.status)) {
      if (options.expect && !run.status.startsWith(options.expect)) {
        // Say why: the run's error and its failed records.
        const failures = await app.services.db.prisma.runChange.findMany({ where: { runId, errorCode: { not: null } }, take: 5 });
        const why = failures.map((f) => `${f.changeType} ${f.anchor ?? ""} ${f.errorCode}: ${f.message}`).join("; ");
        expect(`${run.status} ${run.error ?? ""} ${why}`).toMatch(new RegExp(`^${options.expect}`));
      }
      return run;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} did not finish`);
}

export const CREATE_SYSTEM = "mutation($i: ConnectedSystemInput!) { createConnectedSystem(input: $i) { id } }";
export const REFRESH = "mutation($id: ID!) { refreshSchema(id: $id) { id objectTypes { name } } }";
export const CREATE_RULE = "mutation($i: SyncRuleInput!) { createSyncRule(input: $i) { id } }";

/** A connected system created through the API and its schema discovered, as a user does: its raw id. */
export async function createDiscoveredSystem(app: TestApp, input: Record<string, unknown>): Promise<string> {
  const id = rawId((await ok(app, CREATE_SYSTEM, { i: input })).createConnectedSystem.id);
  await ok(app, REFRESH, { id });
  return id;
}
