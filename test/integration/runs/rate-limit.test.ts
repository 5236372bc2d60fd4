import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId, runToEnd, waitForRun } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS, spawnWorkerProcess, waitFor } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestDatabaseUrl } from "../../helpers/database.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// Per-system rate limits through GraphQL, the start gate and two real worker processes, with a
// real PostgreSQL target: the rows' own write times show the pace the target saw.
const dir = mkdtempSync(path.join(tmpdir(), "metasync-rate-"));
const hrFile = path.join(dir, "hr.csv");
const secretKey = randomBytes(32).toString("hex");
const PEOPLE = 60;
let app: TestApp;
let target: pg.Client;
let targetUrl: string;
const workers: Awaited<ReturnType<typeof spawnWorkerProcess>>[] = [];

const UPDATE = `mutation($id: ID!, $i: ConnectedSystemInput!) {
  updateConnectedSystem(id: $id, input: $i) { rateLimit { requestsPerSecond objectsPerSecond burst } } }`;
const START = `mutation($i: StartRunInput!) { startRun(input: $i) { outcome run { id } } }`;

const people = (n: number, suffix = "") =>
  `employeeId,givenName,sn\n${Array.from({ length: n }, (_, i) => `E${1000 + i},Given${i}${suffix},Family${i}`).join("\n")}\n`;

beforeAll(async () => {
  writeFileSync(hrFile, people(PEOPLE));
  targetUrl = await createTestDatabaseUrl();
  target = new pg.Client({ connectionString: targetUrl });
  await target.connect();
  // written_at is the target's own clock: when each row was last written.
  await target.query(`CREATE TABLE accounts (employee_id text PRIMARY KEY, display_name text, written_at timestamptz)`);
  await target.query(`CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
    'BEGIN NEW.written_at := clock_timestamp(); RETURN NEW; END'`);
  await target.query("CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION stamp()");
  app = await startTestApp(await createTestServices({ secretKey }, { runOptions: FAST_RUN_OPTIONS }));
  const env = { WORKER_EXECUTORS: "default", WORKER_SECRET_KEY: secretKey };
  // One after the other: the first creates the queue's schema.
  for (let i = 0; i < 2; i++) workers.push(await spawnWorkerProcess(app.services.db.url, { total: 0, batchSize: 1 }, env));
});
afterAll(async () => {
  for (const w of workers) w.child.kill("SIGTERM");
  await Promise.all(workers.map((w) => w.exited));
  await target?.end();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  rmSync(dir, { recursive: true, force: true });
});

const accountsInput = () => ({
  name: "accounts",
  kind: "SQL",
  config: { connectionString: targetUrl, table: "accounts", anchor: "employee_id", objectType: "account" },
});

async function systems() {
  const create = async (i: Record<string, unknown>) => rawId((await ok(app, CREATE_SYSTEM, { i })).createConnectedSystem.id);
  const hr = await create({ name: "hr", kind: "CSV", config: { path: hrFile, anchor: "employeeId" } });
  await ok(app, REFRESH, { id: hr });
  const accounts = await create(accountsInput());
  await ok(app, REFRESH, { id: accounts });
  const rule = (i: Record<string, unknown>) => ok(app, CREATE_RULE, { i: { metaverseObjectType: "person", ...i } });
  await rule({
    name: "hr-in",
    connectedSystemId: hr,
    direction: "INBOUND",
    objectType: "person",
    projectToMetaverse: true,
    joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
    attributeFlows: ["employeeId", "givenName", "sn"].map((a) => ({ target: a, source: a })),
  });
  await rule({
    name: "accounts-out",
    connectedSystemId: accounts,
    direction: "OUTBOUND",
    objectType: "account",
    provisionToConnector: true,
    attributeFlows: [
      { target: "employee_id", source: "employeeId" },
      { target: "display_name", expression: "givenName & ' ' & sn" },
    ],
  });
  return { hr, accounts };
}

/** Seconds between the first and the last row the target wrote. */
async function spread(): Promise<number> {
  const { rows } = await target.query<{ s: number }>(
    "SELECT EXTRACT(EPOCH FROM max(written_at) - min(written_at))::float8 AS s FROM accounts",
  );
  return rows[0]!.s;
}

/** Seconds from `since` to the last row the target wrote. */
async function lastWriteAfter(since: Date): Promise<number> {
  const { rows } = await target.query<{ s: number }>(
    "SELECT EXTRACT(EPOCH FROM max(written_at) - $1::timestamptz)::float8 AS s FROM accounts",
    [since],
  );
  return rows[0]!.s;
}

describe("rate limits per connected system", () => {
  it("refuses limits that are not positive, naming the field", async () => {
    const { hr } = await systems();
    const bad = async (rateLimit: Record<string, unknown>) => {
      const r = await app.gql(UPDATE, {
        id: hr,
        i: { name: "hr", kind: "CSV", config: { path: hrFile, anchor: "employeeId" }, rateLimit },
      });
      expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      return r.errors![0]!.message;
    };
    expect(await bad({ requestsPerSecond: -1 })).toContain("rateLimit.requestsPerSecond");
    expect(await bad({ objectsPerSecond: 0 })).toContain("rateLimit.objectsPerSecond");
    expect(await bad({ objectsPerSecond: 5, burst: 0 })).toContain("rateLimit.burst");
    expect(await bad({ burst: 5 })).toContain("requestsPerSecond or objectsPerSecond");
  });

  it("paces an export across worker processes to the configured objects per second, and writes them at once when the limit is removed", async () => {
    const hr = rawId((await ok(app, '{ connectedSystem(name: "hr") { id } }')).connectedSystem.id);
    const accounts = rawId((await ok(app, '{ connectedSystem(name: "accounts") { id } }')).connectedSystem.id);
    const limited = await ok(app, UPDATE, {
      id: accounts,
      i: { ...accountsInput(), rateLimit: { objectsPerSecond: 20, burst: 10 } },
    });
    expect(limited.updateConnectedSystem.rateLimit).toEqual({ requestsPerSecond: null, objectsPerSecond: 20, burst: 10 });

    await runToEnd(app, hr, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, hr, "FULL_SYNC", { expect: "COMPLETED" });
    const exported = await runToEnd(app, accounts, "EXPORT", { expect: "COMPLETED" });
    expect(exported).toMatchObject({ created: PEOPLE, failed: 0 });
    expect((await target.query("SELECT count(*)::int AS n FROM accounts")).rows[0].n).toBe(PEOPLE);
    // 10 at once, then 20 a second: the last of 60 rows cannot be written before 2.5 s after the
    // run began taking from the bucket, so not before 2.5 s after the run started. (Measured from the
    // first row, the bound failed on a busy machine: that row's own write came late, the rest on time.)
    expect(await lastWriteAfter(exported.startedAt!)).toBeGreaterThanOrEqual(2.45);
    // The bucket is in the database, where every worker takes from it.
    const buckets = await app.services.db.pool.query("SELECT kind FROM rate_limit_bucket WHERE connected_system_id = $1", [
      accounts,
    ]);
    expect(buckets.rows).toEqual([{ kind: "objects" }]);

    // Without the limit the same 60 rows, renamed, are written at once.
    await ok(app, UPDATE, { id: accounts, i: { ...accountsInput(), rateLimit: null } });
    writeFileSync(hrFile, people(PEOPLE, "x"));
    await runToEnd(app, hr, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, hr, "DELTA_SYNC", { expect: "COMPLETED" });
    expect(await runToEnd(app, accounts, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ updated: PEOPLE });
    expect(await spread()).toBeLessThan(2.3);
  });

  it("a worker stopped while its run waits for its turn hands the run back, and the other worker finishes it", async () => {
    const hr = rawId((await ok(app, '{ connectedSystem(name: "hr") { id } }')).connectedSystem.id);
    const accounts = rawId((await ok(app, '{ connectedSystem(name: "accounts") { id } }')).connectedSystem.id);
    await ok(app, UPDATE, { id: accounts, i: { ...accountsInput(), rateLimit: { objectsPerSecond: 10, burst: 1 } } });
    writeFileSync(hrFile, people(PEOPLE, "y"));
    await runToEnd(app, hr, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, hr, "DELTA_SYNC", { expect: "COMPLETED" });
    const started = (await ok(app, START, { i: { connectedSystemId: accounts, profile: "EXPORT" } })).startRun;
    expect(started.outcome).toBe("ACCEPTED");
    const runId = rawId(started.run.id);
    // At 10 a second the 60 updates take 6 s: stop the worker holding the run once some are through.
    const holder = await waitFor(async () => {
      const run = await app.services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
      return run.status === "RUNNING" && run.updated >= 2 && workers.find((w) => w.workerId === run.workerId);
    }, 30_000);
    holder.child.kill("SIGTERM");
    expect(await holder.exited).toBe(0);
    // Handed back at the wait, not failed: the other worker takes it and sends the rest.
    const run = await waitForRun(app, started.run.id, "COMPLETED");
    expect(run.workerId).not.toBe(holder.workerId);
    const names = await target.query("SELECT count(*)::int AS n FROM accounts WHERE display_name LIKE 'Given%y %'");
    expect(names.rows[0].n).toBe(PEOPLE);
  });
});
