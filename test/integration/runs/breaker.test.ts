import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId, runToEnd } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// The mass-change breaker through GraphQL, the start gate and a real worker: an HR CSV feeds a
// CSV target of 40 accounts; runs that change too much of it are held with their figures, and an
// operator releases all, a filtered part, or rejects.
const dir = mkdtempSync(path.join(tmpdir(), "metasync-breaker-"));
const hrFile = path.join(dir, "hr.csv");
const targetFile = path.join(dir, "out", "accounts.csv");
let app: TestApp;
let worker: WorkerHandle | null = null;
let hr = "";
let accounts = "";
let outRule = "";

interface Person {
  id: string;
  givenName: string;
  department: string;
}
let people: Person[] = Array.from({ length: 40 }, (_, i) => ({
  id: `E${String(i + 1).padStart(2, "0")}`,
  givenName: `Given${i + 1}`,
  department: i % 2 ? "Sales" : "Research",
}));
const writeHr = () =>
  writeFileSync(
    hrFile,
    `employeeId,givenName,department\n${people.map((p) => `${p.id},${p.givenName},${p.department}`).join("\n")}\n`,
  );
const targetRows = () => readFileSync(targetFile, "utf8").trimEnd().split("\n").slice(1).sort();

const UPDATE_SYSTEM = `mutation($id: ID!, $i: ConnectedSystemInput!) {
  updateConnectedSystem(id: $id, input: $i) { breaker effectiveBreaker { isDefault maxDeletes maxDeletePercent maxCreates attributes { name maxChangePercent } } }
}`;
const HOLDS = `query($run: ID) { breakerHolds(runId: $run) { id reason isDefault held awaitingApproval figures syncRuleId
  crossings { field limit actual unit } connectedSystem { name } run { id profile } } }`;
const APPROVE = `mutation($run: ID, $ids: [ID!], $f: PendingExportFilter) { approvePendingExports(runId: $run, ids: $ids, filter: $f) }`;
const REJECT = `mutation($run: ID, $f: PendingExportFilter) { rejectPendingExports(runId: $run, filter: $f) }`;

const accountsInput = (breaker: unknown) => ({
  name: "accounts",
  kind: "CSV",
  config: { path: targetFile, anchor: "id", columns: ["id", "displayName", "department"] },
  breaker,
});
const setBreaker = async (breaker: unknown) =>
  (await ok(app, UPDATE_SYSTEM, { id: accounts, i: accountsInput(breaker) })).updateConnectedSystem;
const statuses = async (runId: string) => {
  const rows = await app.services.db.prisma.pendingExport.groupBy({
    by: ["changeType", "status"],
    where: { planningRunId: runId, connectedSystemId: accounts },
    _count: true,
  });
  return Object.fromEntries(rows.map((r) => [`${r.changeType} ${r.status}`, r._count]));
};
/** HR changed: import and sync it; the sync run's id. */
async function syncHr() {
  writeHr();
  await runToEnd(app, hr, "FULL_IMPORT", { expect: "COMPLETED" });
  return (await runToEnd(app, hr, "FULL_SYNC", { expect: "COMPLETED" })).id;
}
/** Send what is approved, then confirm it with an import of the target (its objects are the breaker's base). */
async function exportAndConfirm() {
  const counts = await runToEnd(app, accounts, "EXPORT", { expect: "COMPLETED" });
  await runToEnd(app, accounts, "FULL_IMPORT", { expect: "COMPLETED" });
  return counts;
}

beforeAll(async () => {
  writeHr();
  mkdirSync(path.dirname(targetFile));
  app = await startTestApp(await createTestServices({}, { runOptions: FAST_RUN_OPTIONS }));
  worker = await startWorker({ services: app.services, executors: defaultExecutors, scheduler: false });
  const create = async (i: Record<string, unknown>) => rawId((await ok(app, CREATE_SYSTEM, { i })).createConnectedSystem.id);
  hr = await create({ name: "hr", kind: "CSV", config: { path: hrFile, anchor: "employeeId" } });
  await ok(app, REFRESH, { id: hr });
  accounts = await create(accountsInput({ maxCreates: 30 }));
  const rule = async (i: Record<string, unknown>) =>
    rawId((await ok(app, CREATE_RULE, { i: { objectType: "person", metaverseObjectType: "person", ...i } })).createSyncRule.id);
  await rule({
    name: "hr-in",
    connectedSystemId: hr,
    direction: "INBOUND",
    projectToMetaverse: true,
    mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS",
    joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
    attributeFlows: ["employeeId", "givenName", "department"].map((a) => ({ target: a, source: a })),
  });
  outRule = await rule({
    name: "accounts-out",
    connectedSystemId: accounts,
    direction: "OUTBOUND",
    provisionToConnector: true,
    deprovision: "DELETE",
    attributeFlows: [
      { target: "id", source: "employeeId" },
      { target: "displayName", source: "givenName" },
      { target: "department", source: "department" },
    ],
  });
  await ok(app, REFRESH, { id: accounts });
});
afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  rmSync(dir, { recursive: true, force: true });
});

describe("mass-change breaker", () => {
  it("a run planning more creates than maxCreates holds every export with the figures; approving the run releases them", async () => {
    const run = await syncHr();
    expect(await statuses(run)).toEqual({ "CREATE AWAITING_APPROVAL": 40 });
    const held = await app.services.db.prisma.pendingExport.findFirstOrThrow({ where: { planningRunId: run } });
    expect(held.approvalReason).toBe("mass-change breaker: 40 creates > maxCreates 30");

    const [hold] = (await ok(app, HOLDS, { run })).breakerHolds;
    expect(hold).toMatchObject({
      reason: "mass-change breaker: 40 creates > maxCreates 30",
      isDefault: false,
      held: 40,
      awaitingApproval: 40,
      syncRuleId: null,
      crossings: [{ field: "maxCreates", limit: 30, actual: 40, unit: "count" }],
      connectedSystem: { name: "accounts" },
      run: { profile: "FULL_SYNC" },
    });
    expect(hold.figures).toMatchObject({ creates: 40, updates: 0, deletes: 0, objects: 0 });
    // The run says so too: one event with the figures, for alerts and the dashboard.
    const events = await app.services.db.prisma.runEvent.findMany({ where: { runId: run, type: "run.breaker_held" } });
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ connectedSystemId: accounts, held: 40, figures: { creates: 40 } });

    // Nothing leaves while held.
    expect(await runToEnd(app, accounts, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ created: 0 });
    expect(await ok(app, APPROVE, { run })).toEqual({ approvePendingExports: 40 });
    expect(await exportAndConfirm()).toMatchObject({ created: 40, failed: 0 });
    expect(targetRows()).toHaveLength(40);
    expect((await ok(app, HOLDS, { run })).breakerHolds[0].awaitingApproval).toBe(0);
  });

  it("an attribute limit (department) holds a run; a filtered release sends only the other attribute's updates, the rest is rejected", async () => {
    expect(await setBreaker({ attributes: [{ name: "department", maxChangePercent: 5 }] })).toMatchObject({
      breaker: { attributes: [{ name: "department", maxChangePercent: 5 }] },
      // No delete limit given: the default's stay in force.
      effectiveBreaker: { isDefault: false, maxDeletes: 500, maxDeletePercent: 5, maxCreates: null },
    });
    // 3 of 40 departments (7.5%) and one name change.
    people = people.map((p, i) => (i < 3 ? { ...p, department: "Legal" } : i === 10 ? { ...p, givenName: "Renamed" } : p));
    const run = await syncHr();
    expect(await statuses(run)).toEqual({ "UPDATE AWAITING_APPROVAL": 4 });
    const [hold] = (await ok(app, HOLDS, { run })).breakerHolds;
    expect(hold.reason).toBe("mass-change breaker: 3 changes of department (7.5% of 40 objects) > attributes.department 5%");
    expect(hold.crossings).toEqual([{ field: "attributes.department", limit: 5, actual: 7.5, unit: "percent" }]);
    expect(hold.figures).toMatchObject({ updates: 4, objects: 40, attributes: { department: 3 } });

    expect(await ok(app, APPROVE, { run, f: { attribute: "displayName" } })).toEqual({ approvePendingExports: 1 });
    expect(
      await ok(app, REJECT, { run, f: { connectedSystemId: accounts, changeType: "UPDATE", attribute: "department" } }),
    ).toEqual({
      rejectPendingExports: 3,
    });
    expect(await exportAndConfirm()).toMatchObject({ updated: 1, failed: 0 });
    const rows = targetRows();
    expect(rows).toContain("E11,Renamed,Research");
    expect(rows.filter((r) => r.endsWith(",Legal"))).toEqual([]);
    // HR takes the moves back (a rejected change is planned again by the next sync while the source still differs).
    people = people.map((p, i) => (i < 3 ? { ...p, department: i % 2 ? "Sales" : "Research" } : p));
  });

  it("a percentage of updates over maxUpdatePercent holds the run; under it, nothing is held", async () => {
    await setBreaker({ maxUpdatePercent: 10 });
    // An update that leaves the breaker out keeps it.
    const { breaker: _left, ...withoutBreaker } = accountsInput(null);
    const kept = await ok(app, UPDATE_SYSTEM, { id: accounts, i: { ...withoutBreaker, description: "accounts" } });
    expect(kept.updateConnectedSystem.breaker).toEqual({ maxUpdatePercent: 10 });
    // 4 of 40 (10%): not more than the limit.
    people = people.map((p, i) => (i >= 20 && i < 24 ? { ...p, givenName: `${p.givenName}b` } : p));
    const under = await syncHr();
    expect(await statuses(under)).toEqual({ "UPDATE PENDING": 4 });
    expect((await ok(app, HOLDS, { run: under })).breakerHolds).toEqual([]);
    expect(await exportAndConfirm()).toMatchObject({ updated: 4 });

    // 5 of 40 (12.5%): held.
    people = people.map((p, i) => (i >= 30 && i < 35 ? { ...p, givenName: `${p.givenName}c` } : p));
    const over = await syncHr();
    expect(await statuses(over)).toEqual({ "UPDATE AWAITING_APPROVAL": 5 });
    const [hold] = (await ok(app, HOLDS, { run: over })).breakerHolds;
    expect(hold.reason).toBe("mass-change breaker: 5 updates (12.5% of 40 objects) > maxUpdatePercent 10%");
    expect(await ok(app, APPROVE, { run: over })).toEqual({ approvePendingExports: 5 });
    expect(await exportAndConfirm()).toMatchObject({ updated: 5 });
  });

  it("a hold's figures carry the system's exact objects even when its percentages were judged on a partial count", async () => {
    // 2 updates can cross 50% only in a system of 4 objects or fewer: counting 5 decides that,
    // but the count limit crossed too, and the figures recorded with the hold are the whole 40.
    await setBreaker({ maxUpdates: 1, maxUpdatePercent: 50 });
    people = people.map((p, i) => (i === 5 || i === 6 ? { ...p, givenName: `${p.givenName}d` } : p));
    const run = await syncHr();
    expect(await statuses(run)).toEqual({ "UPDATE AWAITING_APPROVAL": 2 });
    const [hold] = (await ok(app, HOLDS, { run })).breakerHolds;
    expect(hold.reason).toBe("mass-change breaker: 2 updates > maxUpdates 1");
    expect(hold.figures).toMatchObject({ updates: 2, objects: 40 });
    expect(await ok(app, APPROVE, { run })).toEqual({ approvePendingExports: 2 });
    expect(await exportAndConfirm()).toMatchObject({ updated: 2 });
  });

  it("default protection: with no breaker, 2 deletes of 40 (5%) go out, 3 of 38 (7.9%) are held and can be rejected", async () => {
    const cleared = await setBreaker(null);
    expect(cleared).toMatchObject({ breaker: null, effectiveBreaker: { isDefault: true, maxDeletes: 500, maxDeletePercent: 5 } });

    people = people.slice(2);
    const under = await syncHr();
    expect(await statuses(under)).toEqual({ "DELETE PENDING": 2 });
    expect(await exportAndConfirm()).toMatchObject({ deleted: 2 });
    expect(targetRows()).toHaveLength(38);

    people = people.slice(3);
    const over = await syncHr();
    expect(await statuses(over)).toEqual({ "DELETE AWAITING_APPROVAL": 3 });
    const [hold] = (await ok(app, HOLDS, { run: over })).breakerHolds;
    expect(hold).toMatchObject({
      isDefault: true,
      reason: "mass-change breaker (default protection): 3 deletes (7.89% of 38 objects) > maxDeletePercent 5%",
    });
    expect(await ok(app, REJECT, { run: over })).toEqual({ rejectPendingExports: 3 });
    expect(await runToEnd(app, accounts, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ deleted: 0 });
    expect(targetRows()).toHaveLength(38);
  });

  it("a rule's own breaker holds the exports that rule planned", async () => {
    const rule = await app.services.db.prisma.syncRule.findUniqueOrThrow({ where: { id: outRule } });
    await ok(app, "mutation($id: ID!, $i: SyncRuleInput!) { updateSyncRule(id: $id, input: $i) { breaker { maxCreates } } }", {
      id: outRule,
      i: {
        name: rule.name,
        connectedSystemId: accounts,
        direction: "OUTBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        provisionToConnector: true,
        deprovision: "DELETE",
        attributeFlows: rule.attributeFlows,
        breaker: { maxCreates: 1 },
      },
    });
    people = [
      ...people,
      { id: "N1", givenName: "New1", department: "Sales" },
      { id: "N2", givenName: "New2", department: "Sales" },
    ];
    const run = await syncHr();
    expect(await statuses(run)).toEqual({ "CREATE AWAITING_APPROVAL": 2 });
    const [hold] = (await ok(app, HOLDS, { run })).breakerHolds;
    expect(hold).toMatchObject({ syncRuleId: outRule, reason: "mass-change breaker: 2 creates > maxCreates 1" });
    // Release by ids: one of them.
    const one = await app.services.db.prisma.pendingExport.findFirstOrThrow({ where: { planningRunId: run } });
    expect(await ok(app, APPROVE, { ids: [one.id] })).toEqual({ approvePendingExports: 1 });
    expect(await exportAndConfirm()).toMatchObject({ created: 1 });
  });

  it("limits outside 0-100% or negative counts are BAD_USER_INPUT naming the field; nothing is saved", async () => {
    const refused = async (breaker: unknown, field: string) => {
      const r = await app.gql(UPDATE_SYSTEM, { id: accounts, i: accountsInput(breaker) });
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: field });
      expect(r.errors?.[0]?.message).toContain(field);
    };
    await refused({ maxDeletePercent: 120 }, "breaker.maxDeletePercent");
    await refused({ maxCreatePercent: -1 }, "breaker.maxCreatePercent");
    await refused({ maxDeletes: -5 }, "breaker.maxDeletes");
    await refused({ attributes: [{ name: "department", maxChangePercent: 101 }] }, "breaker.attributes.0.maxChangePercent");
    await refused({ attributes: [{ name: " ", maxChangePercent: 1 }] }, "breaker.attributes.0.name");
    const created = await app.gql(CREATE_SYSTEM, {
      i: { name: "bad", kind: "CSV", config: { path: targetFile, anchor: "id" }, breaker: { maxUpdates: -1 } },
    });
    expect(created.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "breaker.maxUpdates" });
    expect(await app.services.db.prisma.connectedSystem.count({ where: { name: "bad" } })).toBe(0);
    expect((await app.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { id: accounts } })).breaker).toBe(null);

    const rule = await app.gql(CREATE_RULE, {
      i: {
        name: "bad-rule",
        connectedSystemId: accounts,
        direction: "OUTBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        attributeFlows: [{ target: "id", source: "employeeId" }],
        breaker: { maxDeletePercent: 100.5 },
      },
    });
    expect(rule.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "breaker.maxDeletePercent" });
    const filter = await app.gql(APPROVE, { run: hr, f: { attribute: "  " } });
    expect(filter.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "filter.attribute" });
  });
});
