// Memory of an export run whose backlog holds large groups: G group CREATEs of M members each
// (RFC 2307 memberUid values) ahead of P small person CREATEs, exported to a real slapd by the
// engine's export run. Prints the run's time and the process's peak RSS (VmHWM) before and
// after, so a change to how exports are batched can be compared run against run.
// Usage: npm run bench:export-large-groups -- [--groups 10] [--members 100000] [--people 2000]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createConnector } from "../src/connectors/index.ts";
import { runEngine } from "../test/helpers/engine-run.ts";
import { startSlapd } from "../test/helpers/slapd.ts";
import { openBenchServices } from "./harness.ts";

const { values } = parseArgs({
  options: {
    groups: { type: "string", default: "10" },
    members: { type: "string", default: "100000" },
    people: { type: "string", default: "2000" },
  },
});
const groups = Number(values.groups);
const members = Number(values.members);
const people = Number(values.people);

const peakRssMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) / 1024;

const bench = await openBenchServices();
const slapd = await startSlapd();
try {
  const { pool } = bench.services.db;
  const config = {
    url: slapd.url,
    bindDn: slapd.bindDn,
    bindPassword: slapd.password,
    baseDn: slapd.baseDn,
    objectTypes: [
      { name: "person", objectClasses: ["inetOrgPerson"] },
      { name: "group", objectClasses: ["posixGroup"] },
    ],
  };
  const system = await bench.services.systems.create({ name: "directory", kind: "LDAP", config });
  // Groups first in the claim order (created earlier), as a full sync of groups leaves them
  // beside the people it planned before.
  await pool.query(
    `WITH g AS (
       INSERT INTO connector_space_object (connected_system_id, object_type, anchor, distinguished_name, attributes, content_hash, status)
       SELECT $1, 'group', 'g' || i, 'cn=g' || i || ',ou=groups,' || $3, '{}', '', 'PENDING_PROVISIONING'
         FROM generate_series(1, $2) i RETURNING id, anchor)
     INSERT INTO pending_export (connected_system_id, connector_space_object_id, change_type, status, attribute_changes, created_at)
     SELECT $1, g.id, 'CREATE', 'PENDING',
            jsonb_build_array(
              jsonb_build_object('attribute', 'cn', 'operation', 'ADD', 'values', jsonb_build_array(g.anchor)),
              jsonb_build_object('attribute', 'gidNumber', 'operation', 'ADD', 'values', jsonb_build_array('10000')),
              jsonb_build_object('attribute', 'memberUid', 'operation', 'ADD', 'values',
                (SELECT jsonb_agg('user' || m || '.' || g.anchor) FROM generate_series(1, $4) m))),
            now() - interval '1 hour'
       FROM g`,
    [system.id, groups, slapd.baseDn, members],
  );
  await pool.query(
    `WITH p AS (
       INSERT INTO connector_space_object (connected_system_id, object_type, anchor, distinguished_name, attributes, content_hash, status)
       SELECT $1, 'person', 'p' || i, 'uid=p' || i || ',ou=people,' || $3, '{}', '', 'PENDING_PROVISIONING'
         FROM generate_series(1, $2) i RETURNING id, anchor)
     INSERT INTO pending_export (connected_system_id, connector_space_object_id, change_type, status, attribute_changes)
     SELECT $1, p.id, 'CREATE', 'PENDING',
            jsonb_build_array(
              jsonb_build_object('attribute', 'uid', 'operation', 'ADD', 'values', jsonb_build_array(p.anchor)),
              jsonb_build_object('attribute', 'cn', 'operation', 'ADD', 'values', jsonb_build_array('Zoë ' || p.anchor)),
              jsonb_build_object('attribute', 'sn', 'operation', 'ADD', 'values', jsonb_build_array('Müller')))
       FROM p`,
    [system.id, people, slapd.baseDn],
  );
  const connector = await createConnector("LDAP", config, { logger: bench.services.logger });
  if (global.gc) global.gc();
  const before = peakRssMb();
  const t0 = performance.now();
  const run = await runEngine(bench.services, { systemId: system.id, profile: "EXPORT", connector });
  const seconds = (performance.now() - t0) / 1000;
  await connector.close();
  const { rows } = await pool.query<{ status: string; n: number }>(
    "SELECT status::text, count(*)::int AS n FROM pending_export WHERE connected_system_id = $1 GROUP BY 1 ORDER BY 1",
    [system.id],
  );
  console.log(
    `${groups} groups x ${members} members + ${people} people: run ${run.status} in ${seconds.toFixed(1)} s; ` +
      `exports ${rows.map((r) => `${r.status} ${r.n}`).join(", ")}; peak RSS ${before.toFixed(0)} MB before the run, ${peakRssMb().toFixed(0)} MB after`,
  );
} finally {
  await slapd.stop();
  await bench.close();
}
