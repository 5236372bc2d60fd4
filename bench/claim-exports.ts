// Export claim cost with a large backlog: N open pending exports of one system (creates,
// updates, deletes, some awaiting a reference), then the time one claim of a batch takes.
// Usage: npx tsx bench/claim-exports.ts [--size 10000] [--batch 200]
import { parseArgs } from "node:util";
import { claimReadyExports } from "../src/engine/pending-export/execution.ts";
import { openBenchServices } from "./harness.ts";

const { values } = parseArgs({
  options: { size: { type: "string", default: "10000" }, batch: { type: "string", default: "200" } },
});
const size = Number(values.size);
const batch = Number(values.batch);
const bench = await openBenchServices();
const { pool } = bench.services.db;
const system = await bench.services.systems.create({
  name: "dir",
  kind: "LDAP",
  config: { url: "ldap://127.0.0.1:1", bindDn: "cn=x", bindPassword: "x", baseDn: "dc=x" },
});
await pool.query(
  `INSERT INTO pending_export (connected_system_id, change_type, status, attribute_changes, awaiting_reference, created_at)
   SELECT $1, (ARRAY['CREATE','UPDATE','DELETE'])[1 + i % 3]::pending_export_change_type, 'PENDING', '[]'::jsonb, i % 10 = 0,
          now() - (i || ' milliseconds')::interval
     FROM generate_series(1, $2) i`,
  [system.id, size],
);
// Done exports of the past, as a long-lived system has them.
await pool.query(
  `INSERT INTO pending_export (connected_system_id, change_type, status, attribute_changes)
   SELECT $1, 'UPDATE', 'CONFIRMED', '[]'::jsonb FROM generate_series(1, $2)`,
  [system.id, size * 3],
);
await pool.query("ANALYZE pending_export");
const client = await pool.connect();
const times: number[] = [];
const settings = await bench.services.systems.currentSettings(system);
const { rows } = await pool.query(
  "INSERT INTO run (operation, profile, connected_system_id, connection_settings_id, scope_key) VALUES ('connector.export', 'EXPORT', $1, $2, 'x') RETURNING id",
  [system.id, settings.id],
);
const run = rows[0].id as string;
if (process.env.BENCH_EXPLAIN) {
  const plan = await client.query(
    `EXPLAIN (ANALYZE, BUFFERS) SELECT p.id FROM pending_export p WHERE p.connected_system_id = $1 AND p.change_type = 'CREATE'
       AND p.status IN ('PENDING', 'FAILED', 'EXECUTING')
       AND (p.status = 'PENDING' OR (p.status = 'FAILED' AND p.next_retry_at <= now() AND p.export_run_id IS DISTINCT FROM $2)
            OR (p.status = 'EXECUTING' AND p.export_run_id = $2))
       AND (p.not_before IS NULL OR p.not_before <= now())
     ORDER BY p.awaiting_reference, p.created_at, p.id LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [system.id, run, batch],
  );
  console.log(plan.rows.map((r) => r["QUERY PLAN"]).join("\n"));
  // The former claim: the whole backlog ordered by a CASE over the change type.
  const former = await client.query(
    `EXPLAIN (ANALYZE) SELECT p.id FROM pending_export p WHERE p.connected_system_id = $1
       AND (p.status = 'PENDING' OR (p.status = 'FAILED' AND p.next_retry_at <= now() AND p.export_run_id IS DISTINCT FROM $2)
            OR (p.status = 'EXECUTING' AND p.export_run_id = $2))
       AND (p.not_before IS NULL OR p.not_before <= now())
     ORDER BY CASE p.change_type WHEN 'CREATE' THEN 0 WHEN 'UPDATE' THEN 1 ELSE 2 END, p.awaiting_reference, p.created_at, p.id
     LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [system.id, run, batch],
  );
  console.log(`former CASE-ordered claim: ${former.rows.at(-1)?.["QUERY PLAN"]}`);
}
for (let i = 0; i < 25; i++) {
  await client.query("BEGIN");
  const t0 = performance.now();
  const claimed = await claimReadyExports(client, system.id, run, batch);
  times.push(performance.now() - t0);
  if (claimed.length !== batch) throw new Error(`claimed ${claimed.length}`);
  await client.query("ROLLBACK");
}
client.release();
times.sort((a, b) => a - b);
console.log(`claim of ${batch} among ${size} open exports: median ${times[12]!.toFixed(1)} ms, p90 ${times[22]!.toFixed(1)} ms`);
await bench.close();
