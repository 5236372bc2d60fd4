// Memory of runs whose objects are large groups, compared run against run by the process's peak
// RSS (VmHWM) before and after the run:
// --phase export: G group CREATEs of M members each (RFC 2307 memberUid values) ahead of P small
//   person CREATEs, exported to a real slapd by the engine's export run;
// --phase import: a CSV file of G groups of M members and P small groups, fully imported.
// Usage: npm run bench:large-groups -- [--phase export|import] [--groups 10] [--members 100000] [--people 2000]
import { once } from "node:events";
import { createWriteStream, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { createConnector } from "../src/connectors/index.ts";
import { runEngine } from "../test/helpers/engine-run.ts";
import { startSlapd } from "../test/helpers/slapd.ts";
import { openBenchServices } from "./harness.ts";

const { values } = parseArgs({
  options: {
    phase: { type: "string", default: "export" },
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
try {
  const { seconds, status, outcome, before } = values.phase === "import" ? await importGroups() : await exportGroups();
  console.log(
    `${values.phase}: ${groups} groups x ${members} members + ${people} small: run ${status} in ${seconds.toFixed(1)} s; ` +
      `${outcome}; peak RSS ${before.toFixed(0)} MB before the run, ${peakRssMb().toFixed(0)} MB after`,
  );
} finally {
  await bench.close();
}

/** Runs `work` after a garbage collection, timed, with the peak RSS before it. */
async function measured(work: () => Promise<{ status: string }>) {
  if (global.gc) global.gc();
  const before = peakRssMb();
  const t0 = performance.now();
  const { status } = await work();
  return { before, status, seconds: (performance.now() - t0) / 1000 };
}

async function importGroups() {
  const file = path.join(bench.dir, "groups.csv");
  // Written a thousand members at a time: building whole rows would raise the peak measured after.
  const out = createWriteStream(file);
  const write = (text: string) => (out.write(text) ? null : once(out, "drain"));
  await write("groupId,name,members\n");
  const group = async (id: string, n: number) => {
    await write(`${id},Group ${id},`);
    for (let from = 0; from < n; from += 1000) {
      const ids = Array.from({ length: Math.min(1000, n - from) }, (_, m) => `E${String(from + m).padStart(7, "0")}`);
      await write(`${from ? "|" : ""}${ids.join("|")}`);
    }
    await write("\n");
  };
  for (let g = 0; g < groups; g++) await group(`dept${g}`, members);
  for (let g = 0; g < people; g++) await group(`project${g}`, 25);
  out.end();
  await once(out, "finish");
  const config = { path: file, anchor: "groupId", objectType: "group", multiValued: ["members"] };
  const system = await bench.services.systems.create({ name: "hr-groups", kind: "CSV", config });
  const connector = await createConnector("CSV", config, {
    logger: bench.services.logger,
    fileRoots: bench.services.config.fileRoots,
  });
  const result = await measured(() => runEngine(bench.services, { systemId: system.id, profile: "FULL_IMPORT", connector }));
  const { rows } = await bench.services.db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM connector_space_object WHERE connected_system_id = $1",
    [system.id],
  );
  return { ...result, outcome: `${rows[0]!.n} objects stored` };
}

async function exportGroups() {
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
    const result = await measured(() => runEngine(bench.services, { systemId: system.id, profile: "EXPORT", connector }));
    await connector.close();
    const { rows } = await pool.query<{ status: string; n: number }>(
      "SELECT status::text, count(*)::int AS n FROM pending_export WHERE connected_system_id = $1 GROUP BY 1 ORDER BY 1",
      [system.id],
    );
    return { ...result, outcome: `exports ${rows.map((r) => `${r.status} ${r.n}`).join(", ")}` };
  } finally {
    await slapd.stop();
  }
}
