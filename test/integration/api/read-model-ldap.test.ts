import { Client } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId, runToEnd } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// The read model over OpenLDAP's sample directory (real slapd, imported and synced through the
// product): LDAP attributes are multi-valued, stored as arrays.
let app: TestApp;
let worker: WorkerHandle;
let slapd: Slapd;
let systemId: string;
const BABS = "cn=Barbara Jensen,ou=Information Technology Division,ou=People,dc=example,dc=com";

const CSOS = `query($id: ID!, $where: AttributeFilter, $first: Int, $after: String) {
  connectorSpaceObjects(connectedSystemId: $id, where: $where, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { distinguishedName attributes } } } }`;

const dnsWhere = async (where: Record<string, string>) => {
  const r = await ok(app, CSOS, { id: systemId, where, first: 100 });
  return {
    total: r.connectorSpaceObjects.totalCount,
    dns: r.connectorSpaceObjects.edges.map((e: { node: { distinguishedName: string } }) => e.node.distinguishedName).sort(),
  };
};

beforeAll(async () => {
  slapd = await startSlapd({ sample: "openldap" });
  const services = await createTestServices({}, { runOptions: FAST_RUN_OPTIONS });
  app = await startTestApp(services);
  worker = await startWorker({ services, executors: defaultExecutors, scheduler: false });
  const config = { url: slapd.url, bindDn: slapd.bindDn, bindPassword: slapd.password, baseDn: slapd.baseDn };
  systemId = rawId((await ok(app, CREATE_SYSTEM, { i: { name: "sample", kind: "LDAP", config } })).createConnectedSystem.id);
  await ok(app, REFRESH, { id: systemId });
  await ok(app, CREATE_RULE, {
    i: {
      name: "sample-in",
      connectedSystemId: systemId,
      direction: "INBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      projectToMetaverse: true,
      attributeFlows: [
        { target: "uid", source: "uid" },
        { target: "title", source: "title" },
      ],
    },
  });
  await runToEnd(app, systemId, "FULL_IMPORT", { expect: "COMPLETED" });
  await runToEnd(app, systemId, "FULL_SYNC", { expect: "COMPLETED" });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  await slapd?.stop();
});

describe("read model on multi-valued LDAP attributes", () => {
  it("where equals / startsWith match any value of a multi-valued attribute", async () => {
    expect(await dnsWhere({ attribute: "uid", equals: "bjensen" })).toEqual({ total: 1, dns: [BABS] });
    // Babs Jensen is her second cn.
    expect(await dnsWhere({ attribute: "cn", equals: "Babs Jensen" })).toEqual({ total: 1, dns: [BABS] });
    expect(await dnsWhere({ attribute: "cn", startsWith: "Babs" })).toEqual({ total: 1, dns: [BABS] });
    const bj = await dnsWhere({ attribute: "uid", startsWith: "bj" });
    expect(bj.total).toBe(2);
    expect(bj.dns).toContain(BABS);
    expect(await dnsWhere({ attribute: "uid", equals: "bjens" })).toEqual({ total: 0, dns: [] });
  });

  it("pages a filtered list by cursor without losing or repeating objects", async () => {
    const all = await dnsWhere({ attribute: "sn", equals: "Doe" });
    expect(all.total).toBeGreaterThanOrEqual(2);
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const r: any = await ok(app, CSOS, { id: systemId, where: { attribute: "sn", equals: "Doe" }, first: 1, after });
      const c = r.connectorSpaceObjects;
      expect(c.totalCount).toBe(all.total);
      seen.push(...c.edges.map((e: { node: { distinguishedName: string } }) => e.node.distinguishedName));
      if (!c.pageInfo.hasNextPage) break;
      after = c.pageInfo.endCursor;
    }
    expect(seen.sort()).toEqual(all.dns);
  });

  it("metaverseObjects(where) matches inside multi-valued metaverse attributes too", async () => {
    const r = await ok(
      app,
      `{ metaverseObjects(type: "person", where: { attribute: "uid", equals: "bjensen" }) { totalCount } }`,
    );
    expect(r.metaverseObjects.totalCount).toBe(1);
  });

  it("history says when there is more: historyConnection pages with hasNextPage, history refuses a first beyond its cap", async () => {
    // A second change to Babs: her title changes in the directory, then import + sync again.
    const client = new Client({ url: slapd.url });
    await client.bind(slapd.bindDn, slapd.password);
    const { Change, Attribute } = await import("ldapts");
    await client.modify(BABS, [
      new Change({ operation: "replace", modification: new Attribute({ type: "title", values: ["Chief"] }) }),
    ]);
    await client.unbind();
    await runToEnd(app, systemId, "FULL_IMPORT", { expect: "COMPLETED" });
    await runToEnd(app, systemId, "FULL_SYNC", { expect: "COMPLETED" });

    const found = await ok(app, `{ metaverseObjects(where: { attribute: "uid", equals: "bjensen" }) { edges { node { id } } } }`);
    const id = found.metaverseObjects.edges[0].node.id;
    const HISTORY = `query($id: ID!, $after: String) { metaverseObject(id: $id) { history(first: 10) { runId }
      historyConnection(first: 1, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { runId changeType } } } } }`;
    const first = (await ok(app, HISTORY, { id })).metaverseObject;
    expect(first.history.length).toBe(2);
    expect(first.historyConnection.totalCount).toBe(2);
    expect(first.historyConnection.edges).toHaveLength(1);
    expect(first.historyConnection.pageInfo.hasNextPage).toBe(true);
    // Newest first: the update, then the projection.
    expect(first.historyConnection.edges[0].node.runId).toBe(first.history[0].runId);
    const second = (await ok(app, HISTORY, { id, after: first.historyConnection.pageInfo.endCursor })).metaverseObject;
    expect(second.historyConnection.edges[0].node.runId).toBe(first.history[1].runId);
    expect(second.historyConnection.pageInfo.hasNextPage).toBe(false);

    const capped = await app.gql(`query($id: ID!) { metaverseObject(id: $id) { history(first: 5000) { runId } } }`, { id });
    expect(capped.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT" });
    expect(capped.errors?.[0]?.message).toMatch(/1000.*historyConnection/);
  });
});
