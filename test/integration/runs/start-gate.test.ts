import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDatabase } from "../../../src/db.ts";
import { createEventBus } from "../../../src/events/bus.ts";
import { createServices } from "../../../src/services.ts";
import { connectorError, createReadySystem, failingFactory, jobCount, okFactory, rawId, runRow } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createTestServices } from "../../helpers/services.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp(
    await createTestServices({}, { connectorFactory: okFactory, runOptions: { connectionTestTimeoutMs: 300 } }),
  );
});
afterAll(async () => {
  await app?.stop();
  await app?.services.queue.stop();
  await app?.services.bus.close();
  await app?.services.db.close();
});

const START = /* GraphQL */ `
  mutation ($input: StartRunInput!) {
    startRun(input: $input) {
      outcome reasonCode reason nextSteps message
      run { id status operation connectionId trigger connectedSystem { name } }
    }
  }`;

const start = (connectedSystemId: string, profile: string, dryRun = false) =>
  app.gql(START, { input: { connectedSystemId, profile, dryRun } });

describe("start gate", () => {
  it("admits exactly one of 20 concurrent starts of the same operation: 1 ACCEPTED, 19 DEDUPED, one job", async () => {
    const system = await createReadySystem(app.services, "hr-concurrent");
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 20 }, () => start(system.id, "FULL_IMPORT")));
    const ms = performance.now() - t0;
    const outcomes = results.map((r) => r.data?.startRun.outcome);
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    expect(outcomes.filter((o) => o === "ACCEPTED")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "DEDUPED")).toHaveLength(19);
    const acceptedNode = results.find((r) => r.data.startRun.outcome === "ACCEPTED")!.data.startRun.run;
    const accepted = { ...acceptedNode, id: rawId(acceptedNode.id) };
    // Every deduped answer names the accepted run.
    expect(new Set(results.map((r) => r.data.startRun.run.id))).toEqual(new Set([acceptedNode.id]));
    const runs = await app.services.db.prisma.run.findMany({ where: { connectedSystemId: system.id } });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: "QUEUED", operation: "connector.full_import", trigger: "API" });
    expect(await jobCount(app.services, [accepted.id])).toBe(1);
    const job = await app.services.db.pool.query("SELECT id, data FROM pgboss.job WHERE data->>'runId' = $1", [accepted.id]);
    expect(job.rows[0].data).toEqual({ runId: accepted.id, connectionSettingsId: accepted.connectionId });
    expect(job.rows[0].id).toBe(runs[0]!.jobId);
    const dedupe = results.find((r) => r.data.startRun.outcome === "DEDUPED")!.data.startRun;
    expect(dedupe.reasonCode).toBe("ALREADY_QUEUED");
    expect(dedupe.nextSteps.join(" ")).toContain(accepted.id);
    expect(dedupe.reason).toContain("already queued");
    console.log(`20 concurrent startRun: ${Math.round(ms)} ms total`);
  });

  it("holds its rules across API processes: two independent pools racing conflicting syncs admit exactly one", async () => {
    // A second "API process": its own pool, bus and pg-boss, same database (as after a restart too).
    const db2 = connectDatabase(app.services.db.url);
    const bus2 = await createEventBus(db2.pool);
    const other = createServices({ ...app.services, db: db2, bus: bus2, connectorFactory: okFactory });
    try {
      const a = await createReadySystem(app.services, "hr-race");
      const b = await createReadySystem(app.services, "ldap-race");
      const calls = Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? other : app.services).startGate.start({
          connectedSystemId: i % 4 < 2 ? a.id : b.id,
          profile: "FULL_SYNC",
          trigger: "API",
        }),
      );
      const results = await Promise.all(calls);
      const accepted = results.filter((r) => r.outcome === "ACCEPTED");
      expect(accepted).toHaveLength(1);
      const winner = accepted[0]!.run;
      // The same sync deduped, the other system's sync busy on the metaverse, all naming the winner.
      for (const r of results) expect(r.run.id).toBe(winner.id);
      const loserSystem = winner.connectedSystemId === a.id ? b.id : a.id;
      expect(results.filter((r) => r.outcome === "SCOPE_BUSY").every((r) => r.sharedScopes.includes("mv"))).toBe(true);
      expect(results.filter((r) => r.outcome === "SCOPE_BUSY")).toHaveLength(10);
      expect(await app.services.db.prisma.run.count({ where: { connectedSystemId: loserSystem } })).toBe(0);
      expect(await jobCount(app.services, [winner.id])).toBe(1);
      // Free the metaverse for the other tests of this file.
      await app.gql(`mutation ($id: ID!) { cancelRun(id: $id) { status } }`, { id: winner.id });
    } finally {
      await other.queue.stop();
      await bus2.close();
      await db2.close();
    }
  });

  it("admits a start in a few milliseconds once warm", async () => {
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const system = await createReadySystem(app.services, `hr-latency-${i}`);
      const t0 = performance.now();
      const r = await app.services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
      times.push(performance.now() - t0);
      expect(r.outcome).toBe("ACCEPTED");
    }
    times.sort((x, y) => x - y);
    console.log(
      `start gate ACCEPTED latency: median ${times[5]!.toFixed(1)} ms, max ${times[9]!.toFixed(1)} ms (preflight incl.)`,
    );
    expect(times[5]).toBeLessThan(500);
  });

  it("answers SCOPE_BUSY with the holder for a conflicting operation, and accepts a non-conflicting one", async () => {
    const hr = await createReadySystem(app.services, "hr-busy");
    const ldap = await createReadySystem(app.services, "ldap-busy");
    const imported = (await start(hr.id, "FULL_IMPORT")).data.startRun;
    expect(imported.outcome).toBe("ACCEPTED");
    // A sync of the same system needs its connector space.
    const sync = (await start(hr.id, "FULL_SYNC")).data.startRun;
    expect(sync).toMatchObject({ outcome: "SCOPE_BUSY", reasonCode: "SCOPE_BUSY", run: { id: imported.run.id } });
    expect(sync.reason).toContain("connector space");
    // Another system's sync is free... until it holds the metaverse.
    const ldapSync = (await start(ldap.id, "FULL_SYNC")).data.startRun;
    expect(ldapSync.outcome).toBe("ACCEPTED");
    const otherSystem = await createReadySystem(app.services, "sql-busy");
    const secondSync = (await start(otherSystem.id, "DELTA_SYNC")).data.startRun;
    expect(secondSync).toMatchObject({ outcome: "SCOPE_BUSY", run: { id: ldapSync.run.id } });
    expect(secondSync.reason).toContain("metaverse");
    // An import of the third system touches only its own connector space.
    expect((await start(otherSystem.id, "FULL_IMPORT")).data.startRun.outcome).toBe("ACCEPTED");
    const rows = await app.services.db.prisma.run.count({
      where: { connectedSystemId: { in: [hr.id, ldap.id, otherSystem.id] } },
    });
    expect(rows).toBe(3);
  });

  it("blocks a start whose preflight fails: BLOCKED record with reason and next steps, zero jobs", async () => {
    const noSchema = await createReadySystem(app.services, "hr-noschema", { schema: false });
    const r = (await start(noSchema.id, "FULL_IMPORT")).data.startRun;
    expect(r.outcome).toBe("BLOCKED");
    expect(r.reasonCode).toBe("SCHEMA_NOT_DISCOVERED");
    expect(r.nextSteps[0]).toBe(`Run refreshSchema(id: "${noSchema.id}") to discover the schema`);
    expect(r.run.status).toBe("BLOCKED");
    const row = await runRow(app.services, rawId(r.run.id));
    expect(row).toMatchObject({ status: "BLOCKED", reasonCode: "SCHEMA_NOT_DISCOVERED", jobId: null });
    expect(row.finishedAt).not.toBeNull();
    expect(row.nextSteps).toEqual(r.nextSteps);
    expect(await jobCount(app.services, [rawId(r.run.id)])).toBe(0);
    // A blocked record holds nothing: once fixed, the next start is accepted.
    await app.services.db.prisma.objectType.create({ data: { connectedSystemId: noSchema.id, name: "person" } });
    expect((await start(noSchema.id, "FULL_IMPORT")).data.startRun.outcome).toBe("ACCEPTED");
  });

  it("blocks sync and export without sync rules of their direction", async () => {
    const noRules = await createReadySystem(app.services, "hr-norules", { rules: ["OUTBOUND"] });
    const sync = (await start(noRules.id, "FULL_SYNC")).data.startRun;
    expect(sync).toMatchObject({ outcome: "BLOCKED", reasonCode: "NO_SYNC_RULES" });
    expect(sync.reason).toContain("INBOUND");
    const outOnly = await createReadySystem(app.services, "ldap-norules", { rules: ["INBOUND"] });
    const exp = (await start(outOnly.id, "EXPORT")).data.startRun;
    expect(exp).toMatchObject({ outcome: "BLOCKED", reasonCode: "NO_SYNC_RULES" });
    expect(exp.nextSteps[0]).toContain("createSyncRule");
    expect(await jobCount(app.services, [rawId(sync.run.id), rawId(exp.run.id)])).toBe(0);
  });

  it("pins the connection settings current at acceptance", async () => {
    const system = await createReadySystem(app.services, "hr-pinned", { path: "/data/v1.csv" });
    const before = await app.services.systems.currentSettings(system);
    const r = (await start(system.id, "FULL_IMPORT")).data.startRun;
    expect(r.run.connectionId).toBe(before.id);
    await app.services.systems.update(system.id, {
      name: "hr-pinned",
      kind: "CSV",
      config: { path: "/data/v2.csv", anchor: "id" },
    });
    const row = await runRow(app.services, rawId(r.run.id));
    expect(row.connectionSettingsId).toBe(before.id);
    expect(await app.services.systems.resolveConfig(row.connectionSettingsId)).toMatchObject({ path: "/data/v1.csv" });
  });

  it("rejects unknown systems and bad ids", async () => {
    const missing = await start("00000000-0000-4000-8000-000000000000", "FULL_IMPORT");
    expect(missing.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const bad = await start("nonsense", "FULL_IMPORT");
    expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    const badProfile = await start("00000000-0000-4000-8000-000000000000", "EVERYTHING");
    expect(badProfile.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("preflight connection test", () => {
  it.each([
    ["CONNECTION_FAILED", connectorError("CONNECTION_FAILED", "ECONNREFUSED 127.0.0.1:1")],
    ["AUTH_FAILED", connectorError("AUTH_FAILED", "invalid credentials")],
    ["TIMEOUT", "hang" as const],
  ])("maps a failing connection test to %s and queues nothing", async (code, error) => {
    const services = await createTestServices(
      {},
      { connectorFactory: failingFactory(error), runOptions: { connectionTestTimeoutMs: 200 } },
    );
    try {
      const system = await createReadySystem(services, `sys-${code.toLowerCase()}`);
      const t0 = performance.now();
      const result = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(result.outcome).toBe("BLOCKED");
      expect(result.failure?.reasonCode).toBe(code);
      expect(result.failure?.nextSteps.length).toBeGreaterThan(0);
      expect(await services.db.prisma.run.count({ where: { status: { not: "BLOCKED" } } })).toBe(0);
    } finally {
      await services.queue.stop();
      await services.bus.close();
      await services.db.close();
    }
  });

  it("reports a missing secret before trying to connect", async () => {
    const services = await createTestServices({}, { connectorFactory: okFactory });
    try {
      const system = await services.systems.create({
        name: "ldap-nosecret",
        kind: "LDAP",
        config: { url: "ldap://127.0.0.1:1389", bindDn: "cn=admin", bindPassword: "x", baseDn: "dc=example,dc=org" },
      });
      // Simulate a settings version saved without its secret.
      await services.db.prisma.connectionSettings.updateMany({
        where: { connectedSystemId: system.id },
        data: { secrets: null },
      });
      const result = await services.startGate.start({ connectedSystemId: system.id, profile: "FULL_IMPORT", trigger: "API" });
      expect(result.failure?.reasonCode).toBe("MISSING_SECRET");
      expect(result.failure?.reason).toContain("bindPassword");
    } finally {
      await services.queue.stop();
      await services.bus.close();
      await services.db.close();
    }
  });
});

describe("preflight with the real CSV connector", () => {
  it("accepts a readable file and blocks a missing one with CONNECTION_FAILED naming the path", async () => {
    const services = await createTestServices({}, { runOptions: { connectionTestTimeoutMs: 2000 } });
    const dir = mkdtempSync(path.join(tmpdir(), "metasync-preflight-"));
    writeFileSync(path.join(dir, "hr.csv"), "id,name\n1,Ada\n");
    try {
      const ok = await createReadySystem(services, "hr-real", { path: path.join(dir, "hr.csv") });
      const accepted = await services.startGate.start({ connectedSystemId: ok.id, profile: "FULL_IMPORT", trigger: "API" });
      expect(accepted.outcome).toBe("ACCEPTED");
      const missing = await createReadySystem(services, "hr-missing", { path: path.join(dir, "gone.csv") });
      const blocked = await services.startGate.start({ connectedSystemId: missing.id, profile: "FULL_IMPORT", trigger: "API" });
      expect(blocked.outcome).toBe("BLOCKED");
      expect(blocked.failure?.reasonCode).toBe("CONNECTION_FAILED");
      expect(blocked.failure?.reason).toContain("gone.csv does not exist");
      expect(blocked.failure?.nextSteps[1]).toBe(`Then run testConnection(id: "${missing.id}")`);
    } finally {
      await services.queue.stop();
      await services.bus.close();
      await services.db.close();
    }
  });
});
