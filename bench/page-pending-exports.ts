// Paging benchmark: a script reads every pending export through GraphQL, first: 1000 per page.
//   npx tsx bench/page-pending-exports.ts [--size 100000] [--page 1000]
// Embedded PostgreSQL in a temp dir, migrations, the real app on a free port, 100k rows from one
// INSERT ... SELECT generate_series, then pages over HTTP exactly as a client would.
import { parseArgs } from "node:util";
import { buildApp } from "../src/server/app.ts";
import { openBenchServices } from "./harness.ts";

const { values } = parseArgs({
  options: { size: { type: "string", default: "100000" }, page: { type: "string", default: "1000" } },
});
const size = Number(values.size);
const pageSize = Number(values.page);

const bench = await openBenchServices({ logLevel: "warn", production: true });
try {
  const { services } = bench;
  const db = services.db;
  const system = await services.systems.create({ name: "bench", kind: "CSV", config: { path: "/x.csv", anchor: "id" } });
  const t0 = performance.now();
  await db.pool.query(
    `INSERT INTO pending_export (connected_system_id, change_type, status, attribute_changes)
     SELECT $1, 'UPDATE', (CASE WHEN i % 10 = 0 THEN 'FAILED' ELSE 'PENDING' END)::pending_export_status,
            jsonb_build_array(jsonb_build_object('attribute', 'mail', 'operation', 'REPLACE', 'values', jsonb_build_array('user' || i || '@example.org')),
                              jsonb_build_object('attribute', 'title', 'operation', 'REPLACE', 'values', jsonb_build_array('Engineer')))
       FROM generate_series(1, $2) i`,
    [system.id, size],
  );
  await db.pool.query("ANALYZE pending_export");
  console.log(`inserted ${size} pending exports in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

  const app = buildApp(services);
  const { url } = await app.start();
  const query = `query ($sys: ID, $status: [PendingExportStatus!], $first: Int, $after: String) {
    pendingExports(connectedSystemId: $sys, status: $status, first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node { id status changeType errorCount nextRetryAt attributeChanges { attribute operation values } } }
    } }`;
  const scan = async (label: string, filter: Record<string, unknown>) => {
    let after: string | null = null;
    let rows = 0;
    let pages = 0;
    const start = performance.now();
    for (;;) {
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, variables: { ...filter, first: pageSize, after } }),
      });
      const body = (await res.json()) as {
        data?: { pendingExports: { pageInfo: { hasNextPage: boolean; endCursor: string }; edges: unknown[] } };
        errors?: unknown;
      };
      if (!body.data) throw new Error(JSON.stringify(body.errors));
      rows += body.data.pendingExports.edges.length;
      pages += 1;
      if (!body.data.pendingExports.pageInfo.hasNextPage) break;
      after = body.data.pendingExports.pageInfo.endCursor;
    }
    const seconds = (performance.now() - start) / 1000;
    const rate = Math.round(rows / seconds);
    console.log(`${label}: ${rows} rows in ${pages} pages, ${seconds.toFixed(2)} s = ${rate} rows/s`);
    return { label, rows, seconds, rowsPerSecond: rate };
  };
  const results = [
    await scan("all pending exports", {}),
    await scan("one system, status PENDING", { sys: system.id, status: ["PENDING"] }),
    await scan("one system, status FAILED (10%)", { sys: system.id, status: ["FAILED"] }),
  ];
  const plan = await db.pool.query(
    `EXPLAIN SELECT id FROM pending_export WHERE connected_system_id = $1 AND status = ANY($2::pending_export_status[]) AND id > $3 ORDER BY id LIMIT 1001`,
    [system.id, ["FAILED"], "00000000-0000-0000-0000-000000000000"],
  );
  console.log(plan.rows.map((r: Record<string, string>) => r["QUERY PLAN"]).join("\n"));
  console.log(JSON.stringify({ size, pageSize, results }));
  await app.stop();
} finally {
  await bench.close();
}
