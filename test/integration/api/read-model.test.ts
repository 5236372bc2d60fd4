import { decodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createCsvSystem, insertJoinedCsos, insertMvos, insertRun } from "../../helpers/fixtures.ts";

let app: TestApp;
let systemId: string;
let otherSystemId: string;
beforeAll(async () => {
  app = await startTestApp();
  systemId = (await createCsvSystem(app.services, "hr")).id;
  otherSystemId = (await createCsvSystem(app.services, "crm")).id;
});
afterAll(() => app?.stop());

const MVOS = /* GraphQL */ `
  query ($first: Int, $after: String, $type: String, $where: AttributeFilter) {
    metaverseObjects(first: $first, after: $after, type: $type, where: $where) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id type displayName attributes connectors { anchor joinType connectedSystem { name } } } }
    }
  }`;

describe("metaverse objects", () => {
  it("serves a page of 100 MVOs with connectors and their systems in a constant number of SQL statements", async () => {
    const ids = await insertMvos(app.services, 150, "nplus");
    await insertJoinedCsos(app.services, systemId, ids);
    await insertJoinedCsos(app.services, otherSystemId, ids);
    const statements: string[] = [];
    const off = app.services.db.onQuery((sql) => statements.push(sql));
    const r = await app.gql(MVOS, { first: 100, where: { attribute: "uid", startsWith: "nplus" } });
    off();
    expect(r.errors).toBeUndefined();
    const edges = r.data.metaverseObjects.edges;
    expect(edges).toHaveLength(100);
    expect(r.data.metaverseObjects.totalCount).toBe(150);
    expect(edges[0].node.connectors.map((c: { connectedSystem: { name: string } }) => c.connectedSystem.name).sort()).toEqual([
      "crm",
      "hr",
    ]);
    // page + totalCount + connectors + systems (+ the auth key check): independent of the page size.
    const data = statements.filter((s) => !/api_key/.test(s));
    expect(data.length).toBeLessThanOrEqual(4);
    console.log(`N+1 check: ${data.length} SQL statements for 100 MVOs x 2 connectors x system`);
  });

  it("serves a page of 100 pending exports with their system, CSO and MVO in a constant number of statements", async () => {
    const mvoIds = await insertMvos(app.services, 100, "pe");
    await insertJoinedCsos(app.services, systemId, mvoIds);
    await app.services.db.pool.query(
      `INSERT INTO pending_export (connected_system_id, connector_space_object_id, metaverse_object_id, change_type)
       SELECT c.connected_system_id, c.id, c.metaverse_object_id, 'UPDATE'
         FROM connector_space_object c WHERE c.connected_system_id = $1 AND c.metaverse_object_id = ANY($2::uuid[])`,
      [systemId, mvoIds],
    );
    const statements: string[] = [];
    const off = app.services.db.onQuery((sql) => statements.push(sql));
    const r = await app.gql(
      `{ pendingExports(first: 100) { edges { node { id connectedSystem { name } connectorSpaceObject { anchor metaverseObject { id } } metaverseObject { displayName } attributeChanges { attribute } } } } }`,
    );
    off();
    expect(r.errors).toBeUndefined();
    expect(r.data.pendingExports.edges).toHaveLength(100);
    expect(r.data.pendingExports.edges[0].node.connectorSpaceObject.metaverseObject.id).toBeTruthy();
    const data = statements.filter((s) => !/api_key/.test(s));
    expect(data.length).toBeLessThanOrEqual(5);
    console.log(`N+1 check: ${data.length} SQL statements for 100 pending exports x (system, CSO -> MVO, MVO)`);
  });

  it("filters on an attribute (equals, startsWith) and type", async () => {
    await insertMvos(app.services, 5, "grp", "group");
    const eq = await app.gql(MVOS, { where: { attribute: "uid", equals: "grp3" } });
    expect(eq.data.metaverseObjects.edges.map((e: { node: { attributes: { uid: string } } }) => e.node.attributes.uid)).toEqual([
      "grp3",
    ]);
    const typed = await app.gql(MVOS, { type: "group" });
    expect(typed.data.metaverseObjects.totalCount).toBe(5);
    const both = await app.gql(MVOS, { where: { attribute: "uid", equals: "x", startsWith: "y" } });
    expect(both.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("pages through inserts: every row present at the start is seen exactly once, in id order", async () => {
    const before = await insertMvos(app.services, 50, "pg", "pager");
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const r: any = await app.gql(MVOS, { type: "pager", first: 7, after });
      const conn = r.data.metaverseObjects;
      seen.push(...conn.edges.map((e: { node: { id: string } }) => e.node.id));
      // Rows inserted mid-scan must neither shift nor break the cursor.
      await insertMvos(app.services, 3, `ins${page}-`, "pager");
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const seenUuids = new Set(seen.map((id) => decodeGlobalID(id).id));
    expect(before.every((id) => seenUuids.has(id))).toBe(true);
    const globalIds = await app.gql(`query { metaverseObjects(type: "pager", first: 1000) { edges { node { id } } } }`);
    const all = globalIds.data.metaverseObjects.edges.map((e: { node: { id: string } }) => e.node.id);
    // Every id seen is in the final listing, which is ordered the same way.
    expect(all.filter((id: string) => seen.includes(id))).toEqual(seen);
    expect(seen.length).toBeGreaterThanOrEqual(50);
  });

  it("refuses first above 1000 with BAD_USER_INPUT", async () => {
    const r = await app.gql(MVOS, { first: 1001 });
    expect(r.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(r.errors?.[0]?.message).toContain("1000");
  });

  it("resolves node(id) and metaverseObject(id) with history newest first", async () => {
    const [mvoId] = await insertMvos(app.services, 1, "hist");
    const runId = await insertRun(app.services, systemId, "FULL_SYNC");
    const rule = await app.services.db.prisma.syncRule.create({
      data: {
        name: "hist-rule",
        connectedSystemId: systemId,
        direction: "INBOUND",
        objectType: "person",
        metaverseObjectType: "person",
      },
    });
    await app.services.db.pool.query(
      `INSERT INTO run_change (run_id, change_type, metaverse_object_id, attribute_changes, sync_rule_id, source_system_id)
       VALUES ($1, 'PROJECTED', $2, '[{"attribute":"uid","before":null,"after":"hist1"}]', $3, $4),
              ($1, 'MVO_UPDATED', $2, '[{"attribute":"mail","after":"h@x"}]', $3, $4)`,
      [runId, mvoId, rule.id, systemId],
    );
    // Contributions are stored packed (each contributor once); the API shows them per attribute.
    const contribution = { systemId, ruleId: rule.id, runId, precedence: 100 };
    await app.services.db.pool.query("UPDATE metaverse_object SET contributions = $2 WHERE id = $1", [
      mvoId,
      { $: [contribution], uid: 0, mail: 0 },
    ]);
    const r = await app.gql(
      `query ($id: ID!) { metaverseObject(id: $id) { id contributions history { runId changeType attributeChanges syncRuleId sourceSystemId } } }`,
      { id: mvoId },
    );
    expect(r.errors).toBeUndefined();
    const history = r.data.metaverseObject.history;
    expect(history.map((h: { changeType: string }) => h.changeType)).toEqual(["MVO_UPDATED", "PROJECTED"]);
    expect(history[0]).toMatchObject({ runId, syncRuleId: rule.id, sourceSystemId: systemId });
    // Stored compact: the row's rule and source, and a null before, are filled back in.
    expect(history[0].attributeChanges[0]).toEqual({
      attribute: "mail",
      before: null,
      after: "h@x",
      syncRuleId: rule.id,
      sourceSystemId: systemId,
    });
    expect(r.data.metaverseObject.contributions).toEqual({ uid: contribution, mail: contribution });
    const node = await app.gql(`query ($id: ID!) { node(id: $id) { __typename ... on MetaverseObject { displayName } } }`, {
      id: r.data.metaverseObject.id,
    });
    expect(node.data.node).toEqual({ __typename: "MetaverseObject", displayName: "User 1" });
  });
});

describe("connector space objects", () => {
  it("lists a system's CSOs with their metaverse object, filtered by attribute", async () => {
    const ids = await insertMvos(app.services, 3, "cso");
    const sys = await createCsvSystem(app.services, "cso-sys");
    await insertJoinedCsos(app.services, sys.id, ids);
    const r = await app.gql(
      `query ($sys: ID!, $where: AttributeFilter) {
        connectorSpaceObjects(connectedSystemId: $sys, where: $where) {
          totalCount edges { node { id anchor joinType attributes connectedSystem { name } metaverseObject { id attributes } } }
        } }`,
      { sys: sys.id, where: { attribute: "id", equals: ids[1] } },
    );
    expect(r.errors).toBeUndefined();
    expect(r.data.connectorSpaceObjects.totalCount).toBe(1);
    const cso = r.data.connectorSpaceObjects.edges[0].node;
    expect(cso).toMatchObject({ anchor: `a-${ids[1]}`, joinType: "JOINED", connectedSystem: { name: "cso-sys" } });
    expect(cso.metaverseObject.attributes.uid).toBe("cso2");
    const node = await app.gql(`query ($id: ID!) { node(id: $id) { __typename ... on ConnectorSpaceObject { anchor } } }`, {
      id: cso.id,
    });
    expect(node.data.node).toEqual({ __typename: "ConnectorSpaceObject", anchor: `a-${ids[1]}` });
  });
});
