import { decodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createCsvSystem, insertRun } from "../../helpers/fixtures.ts";

let app: TestApp;
let systemId: string;
let otherSystemId: string;
let runId: string;
beforeAll(async () => {
  app = await startTestApp();
  systemId = (await createCsvSystem(app.services, "ldap-out")).id;
  otherSystemId = (await createCsvSystem(app.services, "sql-out")).id;
  runId = await insertRun(app.services, systemId);
});
afterAll(() => app?.stop());

/** Pending exports as export planning writes them; returns their ids in insertion order. */
async function insertExports(
  n: number,
  status: string,
  opts: { system?: string; run?: string | null; changeType?: string } = {},
) {
  const { rows } = await app.services.db.pool.query<{ id: string }>(
    `INSERT INTO pending_export (connected_system_id, change_type, status, attribute_changes, planning_run_id, error_count, next_retry_at, last_error)
     SELECT $1, $2::pending_export_change_type, $3::pending_export_status,
            jsonb_build_array(jsonb_build_object('attribute', 'mail', 'operation', 'REPLACE', 'values', jsonb_build_array('u' || i || '@x'))),
            $4, CASE WHEN $3 IN ('FAILED','ERROR') THEN 5 ELSE 0 END,
            CASE WHEN $3 IN ('FAILED','ERROR') THEN now() + interval '1 hour' END,
            CASE WHEN $3 IN ('FAILED','ERROR') THEN 'timeout' END
       FROM generate_series(1, $5) i
     RETURNING id`,
    [opts.system ?? systemId, opts.changeType ?? "UPDATE", status, opts.run === undefined ? runId : opts.run, n],
  );
  return rows.map((r) => r.id);
}

const PAGE = /* GraphQL */ `
  query ($sys: ID, $status: [PendingExportStatus!], $changeType: PendingExportChangeType, $runId: ID, $first: Int, $after: String) {
    pendingExports(connectedSystemId: $sys, status: $status, changeType: $changeType, runId: $runId, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id status changeType errorCount nextRetryAt approvedBy attributeChanges { attribute operation values status } connectedSystem { name } } }
    }
  }`;

describe("pending exports", () => {
  it("filters by system, status list, change type and run", async () => {
    await insertExports(3, "PENDING");
    await insertExports(2, "FAILED", { changeType: "DELETE" });
    await insertExports(4, "PENDING", { system: otherSystemId, run: null });
    const bySystem = await app.gql(PAGE, { sys: systemId });
    expect(bySystem.data.pendingExports.totalCount).toBe(5);
    const byStatus = await app.gql(PAGE, { status: ["FAILED", "ERROR"] });
    expect(byStatus.data.pendingExports.totalCount).toBe(2);
    expect(byStatus.data.pendingExports.edges[0].node).toMatchObject({
      status: "FAILED",
      changeType: "DELETE",
      errorCount: 5,
      connectedSystem: { name: "ldap-out" },
      attributeChanges: [
        { attribute: "mail", operation: "REPLACE", values: [expect.stringMatching(/^u\d@x$/)], status: "PENDING" },
      ],
    });
    expect((await app.gql(PAGE, { changeType: "DELETE" })).data.pendingExports.totalCount).toBe(2);
    expect((await app.gql(PAGE, { runId })).data.pendingExports.totalCount).toBe(5);
    expect((await app.gql(PAGE, { sys: otherSystemId, status: ["PENDING"] })).data.pendingExports.totalCount).toBe(4);
  });

  it("pages 100 rows at a time to the end, even when the cursor's row is deleted meanwhile; node(id) finds each", async () => {
    const pager = (await createCsvSystem(app.services, "pager")).id;
    const ids = await insertExports(250, "PENDING", { system: pager, run: null });
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const r: any = await app.gql(PAGE, { sys: pager, first: 100, after });
      const conn = r.data.pendingExports;
      seen.push(...conn.edges.map((e: { node: { id: string } }) => e.node.id));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
      // The last row of this page disappears (e.g. purged): its cursor must still lead on.
      const lastId = decodeGlobalID(conn.edges.at(-1).node.id).id;
      await app.services.db.pool.query("DELETE FROM pending_export WHERE id = $1", [lastId]);
    }
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250);
    expect(new Set(seen.map((id) => decodeGlobalID(id).id))).toEqual(new Set(ids));
    const node = await app.gql(`query ($id: ID!) { node(id: $id) { __typename ... on PendingExport { status } } }`, {
      id: seen[0],
    });
    expect(node.data.node).toEqual({ __typename: "PendingExport", status: "PENDING" });
  });

  it("retries FAILED exports: PENDING, errorCount 0, no retry time; others untouched", async () => {
    const failed = await insertExports(2, "ERROR");
    const [confirmed] = await insertExports(1, "CONFIRMED");
    const r = await app.gql(
      `mutation ($ids: [ID!]!) { retryPendingExports(ids: $ids) { id status errorCount nextRetryAt lastError } }`,
      {
        ids: [...failed, confirmed],
      },
    );
    expect(r.errors).toBeUndefined();
    const byStatus = r.data.retryPendingExports.map((p: { status: string; errorCount: number; nextRetryAt: string | null }) => [
      p.status,
      p.errorCount,
      p.nextRetryAt,
    ]);
    expect(byStatus.sort()).toEqual([
      ["CONFIRMED", 0, null],
      ["PENDING", 0, null],
      ["PENDING", 0, null],
    ]);
  });

  it("approves by ids and by run, rejects the rest, and publishes each change to subscribers", async () => {
    const approvalRun = await insertRun(app.services, systemId);
    const held = await insertExports(4, "AWAITING_APPROVAL", { run: approvalRun, changeType: "DELETE" });
    const client = app.ws();
    const seen: { id: string; status: string }[] = [];
    const iterator = client.iterate<{ pendingExportChanged: { id: string; status: string } }>({
      query: `subscription ($r: ID) { pendingExportChanged(runId: $r) { id status } }`,
      variables: { r: approvalRun },
    });
    const collecting = (async () => {
      for await (const msg of iterator) {
        if (msg.data) seen.push(msg.data.pendingExportChanged);
        if (seen.length === 4) break;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    // Changes of another run must not reach this subscriber.
    await app.gql(`mutation ($ids: [ID!]!) { retryPendingExports(ids: $ids) { id } }`, { ids: await insertExports(1, "FAILED") });

    const one = await app.gql(`mutation ($ids: [ID!]) { approvePendingExports(ids: $ids) }`, { ids: [held[0]] });
    expect(one.data.approvePendingExports).toBe(1);
    const byRun = await app.gql(`mutation ($ids: [ID!], $r: ID) { approvePendingExports(ids: $ids, runId: $r) }`, {
      ids: held.slice(1, 3),
      r: approvalRun,
    });
    expect(byRun.data.approvePendingExports).toBe(2);
    // Approved exports are not applied yet either: a rejection by run alone would take them too.
    const rejected = await app.gql(`mutation ($ids: [ID!], $r: ID) { rejectPendingExports(ids: $ids, runId: $r) }`, {
      ids: [held[3]],
      r: approvalRun,
    });
    expect(rejected.data.rejectPendingExports).toBe(1);
    const again = await app.gql(`mutation ($r: ID) { approvePendingExports(runId: $r) }`, { r: approvalRun });
    expect(again.data.approvePendingExports).toBe(0);
    const neither = await app.gql(`mutation { approvePendingExports }`);
    expect(neither.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");

    await collecting;
    expect(seen.map((s) => s.status).sort()).toEqual(["PENDING", "PENDING", "PENDING", "REJECTED"]);
    expect(new Set(seen.map((s) => s.id)).size).toBe(4);
    const rows = await app.services.db.prisma.pendingExport.findMany({ where: { id: { in: held } }, orderBy: { status: "asc" } });
    expect(rows.filter((r) => r.status === "PENDING").every((r) => r.approvedBy === "loopback" && r.approvedAt)).toBe(true);
    expect(rows.filter((r) => r.status === "REJECTED").map((r) => r.id)).toEqual([held[3]]);
  });
  it("rejects every not-yet-applied status (PENDING, FAILED, ERROR, AWAITING_APPROVAL) and says per id what it did", async () => {
    const [pending] = await insertExports(1, "PENDING");
    const [failed] = await insertExports(1, "FAILED");
    const [errored] = await insertExports(1, "ERROR");
    const [held] = await insertExports(1, "AWAITING_APPROVAL");
    const [exported] = await insertExports(1, "EXPORTED");
    const missing = "00000000-0000-4000-8000-000000000001";
    const ids = [pending, failed, errored, held, exported, missing] as string[];
    // The Int form keeps working: it now counts errored and failed exports too.
    const count = await app.gql(`mutation ($ids: [ID!]) { rejectPendingExports(ids: $ids) }`, { ids: [errored] });
    expect(count.errors).toBeUndefined();
    expect(count.data.rejectPendingExports).toBe(1);
    const r = await app.gql(
      `mutation ($ids: [ID!]) { rejectPendingExportsDetailed(ids: $ids) { rejected results { id outcome code status } } }`,
      { ids },
    );
    expect(r.errors).toBeUndefined();
    expect(r.data.rejectPendingExportsDetailed.rejected).toBe(3);
    const byId = new Map(
      r.data.rejectPendingExportsDetailed.results.map((x: { id: string }) => [decodeGlobalID(x.id).id, x] as const),
    );
    expect(ids.map((id) => byId.get(id))).toMatchObject([
      { outcome: "REJECTED", code: null, status: "REJECTED" },
      { outcome: "REJECTED", code: null, status: "REJECTED" },
      { outcome: "UNCHANGED", code: "CONFLICT", status: "REJECTED" },
      { outcome: "REJECTED", code: null, status: "REJECTED" },
      { outcome: "UNCHANGED", code: "CONFLICT", status: "EXPORTED" },
      { outcome: "UNCHANGED", code: "NOT_FOUND", status: null },
    ]);
    const rows = await app.services.db.prisma.pendingExport.findMany({ where: { id: { in: ids } } });
    expect(rows.map((x) => [x.id, x.status]).sort()).toEqual(
      [
        [pending, "REJECTED"],
        [failed, "REJECTED"],
        [errored, "REJECTED"],
        [held, "REJECTED"],
        [exported, "EXPORTED"],
      ].sort(),
    );
  });
});
