import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId, runToEnd } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { type ScimServer, startScimServer } from "../../helpers/scim-server.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

// HR CSV files -> a SCIM 2.0 service (scimmy + scimmy-routers, someone else's server) through
// GraphQL, the start gate and a real worker: joiners, a rename, a leaver (deactivated, then
// deleted), group members, full and delta import, throttling, a wrong token.
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const dir = mkdtempSync(path.join(tmpdir(), "metasync-scim-"));
const peopleCsv = path.join(dir, "people.csv");
const groupsCsv = path.join(dir, "groups.csv");
let app: TestApp;
let worker: WorkerHandle | null = null;
let scim: ScimServer;
let ids: { people: string; groups: string; scim: string };

const START = `mutation($i: StartRunInput!) { startRun(input: $i) { outcome reasonCode reason nextSteps run { id status } } }`;

function writeHr(people: string[], groups: string[]) {
  writeFileSync(peopleCsv, `employeeId,givenName,sn,department,mail\n${people.join("\n")}\n`);
  writeFileSync(groupsCsv, `groupId,members\n${groups.join("\n")}\n`);
}

beforeAll(async () => {
  scim = await startScimServer();
  writeHr(
    [
      "E1,Ada,Lovelace,Engineering,ada@example.org",
      "E2,Alan,Turing,Engineering,alan@example.org",
      "E3,Grace,Hopper,Finance,grace@example.org",
    ],
    ["engineering,E1|E2", "finance,E3"],
  );
  app = await startTestApp(
    await createTestServices({}, { runOptions: { ...FAST_RUN_OPTIONS, connectionTestTimeoutMs: 10_000 } }),
  );
  worker = await startWorker({ services: app.services, executors: defaultExecutors, scheduler: false });
  const create = async (i: Record<string, unknown>) => rawId((await ok(app, CREATE_SYSTEM, { i })).createConnectedSystem.id);
  ids = {
    people: await create({ name: "hr-people", kind: "CSV", config: { path: peopleCsv, anchor: "employeeId" } }),
    groups: await create({
      name: "hr-groups",
      kind: "CSV",
      config: { path: groupsCsv, anchor: "groupId", objectType: "group", multiValued: ["members"] },
    }),
    // A leaver of a handful is over the default breaker's 5%: allow a few deletes.
    scim: await create({
      name: "saas",
      kind: "SCIM",
      breaker: { maxDeletes: 20 },
      config: { baseUrl: scim.baseUrl, bearerToken: scim.token },
    }),
  };
  for (const id of Object.values(ids)) await ok(app, REFRESH, { id });
  const rule = (i: Record<string, unknown>) => ok(app, CREATE_RULE, { i });
  await rule({
    name: "people-in",
    connectedSystemId: ids.people,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS",
    joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
    attributeFlows: ["employeeId", "givenName", "sn", "department", "mail"].map((a) => ({ target: a, source: a })),
  });
  await rule({
    name: "groups-in",
    connectedSystemId: ids.groups,
    direction: "INBOUND",
    objectType: "group",
    metaverseObjectType: "group",
    projectToMetaverse: true,
    mvoDeletionRule: "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS",
    joinRules: [{ source: "groupId", metaverseAttribute: "groupId" }],
    attributeFlows: ["groupId", "members"].map((a) => ({ target: a, source: a })),
  });
  await rule({
    name: "saas-users",
    connectedSystemId: ids.scim,
    direction: "OUTBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    provisionToConnector: true,
    deprovision: "DISABLE_THEN_DELETE",
    disableFlow: { attribute: "active", value: false },
    deprovisionGraceSeconds: 1,
    attributeFlows: [
      { target: "userName", expression: "$lowercase(givenName & '.' & sn) & '@example.org'" },
      { target: "externalId", source: "employeeId" },
      { target: "name.givenName", source: "givenName" },
      { target: "name.familyName", source: "sn" },
      { target: 'emails[type eq "work"].value', source: "mail" },
      { target: `${ENTERPRISE}:department`, source: "department" },
      { target: "active", expression: "true" },
    ],
  });
  await rule({
    name: "saas-groups",
    connectedSystemId: ids.scim,
    direction: "OUTBOUND",
    objectType: "group",
    metaverseObjectType: "group",
    provisionToConnector: true,
    deprovision: "DELETE",
    // Members are the people's employee ids: the connector sends the SCIM ids of the users with that externalId.
    attributeFlows: [
      { target: "displayName", source: "groupId" },
      { target: "members", source: "members" },
    ],
  });
});
afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  await scim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cycle() {
  await runToEnd(app, ids.people, "FULL_IMPORT", { expect: "COMPLETED" });
  await runToEnd(app, ids.groups, "FULL_IMPORT", { expect: "COMPLETED" });
  await runToEnd(app, ids.people, "DELTA_SYNC", { expect: "COMPLETED" });
  await runToEnd(app, ids.groups, "DELTA_SYNC", { expect: "COMPLETED" });
  const exported = await runToEnd(app, ids.scim, "EXPORT", { expect: "COMPLETED" });
  await runToEnd(app, ids.scim, "FULL_IMPORT", { expect: "COMPLETED" });
  return exported;
}

const user = (externalId: string) => [...scim.users.values()].find((u) => u.externalId === externalId);
const group = (name: string) => [...scim.groups.values()].find((g) => g.displayName === name);
const members = (name: string) =>
  ((group(name)?.members as { value: string }[] | undefined) ?? [])
    .map((m) => String(scim.users.get(m.value)?.externalId))
    .sort();
const open = () =>
  app.services.db.prisma.pendingExport.count({ where: { connectedSystemId: ids.scim, status: { not: "CONFIRMED" } } });

describe("SCIM provisioning end to end", () => {
  it("provisions people with enterprise attributes and groups with members, confirmed by a full import", async () => {
    const exported = await cycle();
    expect(exported).toMatchObject({ created: 5, failed: 0 });
    expect(scim.users.size).toBe(3);
    expect(user("E1")).toMatchObject({
      userName: "ada.lovelace@example.org",
      name: { givenName: "Ada", familyName: "Lovelace" },
      emails: [{ type: "work", value: "ada@example.org" }],
      active: true,
      [ENTERPRISE]: { department: "Engineering" },
    });
    expect(members("engineering")).toEqual(["E1", "E2"]);
    expect(members("finance")).toEqual(["E3"]);
    expect(await open()).toBe(0);
    // The connector space holds the SCIM ids as anchors and the members as the keys exported.
    const cso = await app.services.db.prisma.connectorSpaceObject.findFirstOrThrow({
      where: { connectedSystemId: ids.scim, objectType: "group", anchor: group("engineering")?.id },
    });
    expect((cso.attributes as Record<string, unknown>).members).toEqual(expect.arrayContaining(["E1", "E2"]));
  });

  it("renames and moves by PATCH, deactivates a leaver and deletes it after the grace period, and moves group members", async () => {
    const patches = scim.requests.get("PATCH /Users/:id") ?? 0;
    writeHr(
      [
        "E1,Ada,Byron,Finance,ada@example.org", // rename (userName follows sn) and move
        "E2,Alan,Turing,Engineering,alan@example.org",
        // E3 leaves
        "E4,Katherine,Johnson,Finance,katherine@example.org",
      ],
      ["engineering,E2", "finance,E1|E4"],
    );
    const id1 = user("E1")?.id;
    const exported = await cycle();
    expect(exported).toMatchObject({ created: 1, failed: 0 });
    expect(user("E1")).toMatchObject({
      id: id1,
      userName: "ada.byron@example.org",
      name: { familyName: "Byron" },
      [ENTERPRISE]: { department: "Finance" },
    });
    // Updates went as PATCH operations (on their own, or inside /Bulk requests).
    expect((scim.requests.get("PATCH /Users/:id") ?? 0) + (scim.requests.get("POST /Bulk") ?? 0)).toBeGreaterThan(patches);
    expect(user("E3")).toMatchObject({ active: false });
    expect(members("engineering")).toEqual(["E2"]);
    expect(members("finance")).toEqual(["E1", "E4"]);

    // After the grace period, the leaver's DELETE goes out.
    await new Promise((r) => setTimeout(r, 1_100));
    const deleted = await runToEnd(app, ids.scim, "EXPORT", { expect: "COMPLETED" });
    expect(deleted).toMatchObject({ deleted: 1, failed: 0 });
    expect(user("E3")).toBeUndefined();
    expect(scim.users.size).toBe(3);
  });

  it("imports changes made in the service by a delta on meta.lastModified", async () => {
    await runToEnd(app, ids.scim, "FULL_IMPORT", { expect: "COMPLETED" });
    const target = user("E2")!;
    // Someone else edits a user in the service.
    const res = await fetch(`${scim.baseUrl}/Users/${target.id}`, {
      method: "PATCH",
      headers: { Authorization: `Bearer ${scim.token}`, "Content-Type": "application/scim+json" },
      body: JSON.stringify({
        schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        Operations: [{ op: "replace", path: "title", value: "Cryptanalyst" }],
      }),
    });
    expect(res.status).toBe(200);
    const delta = await runToEnd(app, ids.scim, "DELTA_IMPORT", { expect: "COMPLETED" });
    // Only what changed since the last import.
    expect(delta.fetched).toBe(1);
    const cso = await app.services.db.prisma.connectorSpaceObject.findFirstOrThrow({
      where: { connectedSystemId: ids.scim, anchor: target.id },
    });
    expect((cso.attributes as Record<string, unknown>).title).toBe("Cryptanalyst");
  });

  it("waits out a 429 with Retry-After during an export", async () => {
    writeHr(
      [
        "E1,Ada,Byron,Finance,ada@example.org",
        "E2,Alan,Turing,Engineering,alan@example.org",
        "E4,Katherine,Johnson,Finance,katherine@example.org",
        "E5,Dorothy,Vaughan,Finance,dorothy@example.org",
      ],
      ["engineering,E2", "finance,E1|E4|E5"],
    );
    await runToEnd(app, ids.people, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, ids.groups, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, ids.people, "DELTA_SYNC", { expect: "COMPLETED" });
    await runToEnd(app, ids.groups, "DELTA_SYNC", { expect: "COMPLETED" });
    const before = scim.throttled();
    // The start gate's connection test and the export's first requests are answered 429 first.
    scim.throttle(3, "1");
    const exported = await runToEnd(app, ids.scim, "EXPORT", { expect: "COMPLETED" });
    expect(exported).toMatchObject({ created: 1, failed: 0 });
    expect(scim.throttled() - before).toBe(3);
    expect(user("E5")).toMatchObject({ userName: "dorothy.vaughan@example.org" });
    expect(members("finance")).toEqual(["E1", "E4", "E5"]);
  });

  it("blocks a run with a wrong token: AUTH_FAILED with next steps, nothing sent", async () => {
    const wrong = rawId(
      (
        await ok(app, CREATE_SYSTEM, {
          i: { name: "saas-wrong", kind: "SCIM", config: { baseUrl: scim.baseUrl, bearerToken: "not-the-token" } },
        })
      ).createConnectedSystem.id,
    );
    const test = await app.gql(`mutation($id: ID!) { testConnection(id: $id) { ok message } }`, { id: wrong });
    expect(test.data?.testConnection).toMatchObject({ ok: false });
    expect(test.data?.testConnection.message).toMatch(/401/);
    const started = (await ok(app, START, { i: { connectedSystemId: wrong, profile: "FULL_IMPORT" } })).startRun;
    expect(started).toMatchObject({ outcome: "BLOCKED", reasonCode: "AUTH_FAILED" });
    expect(started.nextSteps.length).toBeGreaterThan(0);
    expect(started.nextSteps.join(" ")).toContain("testConnection");
    expect(scim.users.size).toBe(4);
  });

  it("blocks a run when the service refuses the account (403): PERMISSION_DENIED with next steps", async () => {
    scim.forbid(true);
    try {
      const started = (await ok(app, START, { i: { connectedSystemId: ids.scim, profile: "EXPORT" } })).startRun;
      expect(started).toMatchObject({ outcome: "BLOCKED", reasonCode: "PERMISSION_DENIED" });
      expect(started.reason).toContain("403");
      expect(started.nextSteps.join(" ")).toMatch(/Grant the configured account/);
    } finally {
      scim.forbid(false);
    }
  });
});
