// Memory of runs whose objects are large groups, compared run against run by the process's peak
// RSS (VmHWM) before and after the run:
// --phase export: G group CREATEs of M members each (RFC 2307 memberUid values) ahead of P small
//   person CREATEs, exported to a real slapd by the engine's export run;
// --phase import: a CSV file of G groups of M members and P small groups, fully imported;
// --phase confirm: the export above, then the full import of the directory that confirms it
//   (peak RSS of that import alone);
// --phase delta: the CSV file above fully imported, then rewritten with 1% of each group's members
//   replaced, and imported again by a delta import (peak RSS of the delta import alone).
// --phase sync: the groups projected into the metaverse and provisioned to a CSV target (RFC 2307
//   memberUid lists, planned, then stored as exported), the file rewritten as for delta and imported
//   again, and the delta sync that plans the membership changes measured alone.
// Usage: npm run bench:large-groups -- [--phase export|import|confirm|delta|sync] [--groups 10] [--members 100000] [--people 2000]
import { once } from "node:events";
import { createWriteStream, readFileSync, writeFileSync } from "node:fs";
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
  const { seconds, status, outcome, before } =
    values.phase === "import" || values.phase === "delta" || values.phase === "sync"
      ? await importGroups(values.phase)
      : await exportGroups(values.phase === "confirm");
  console.log(
    `${values.phase}: ${groups} groups x ${members} members + ${people} small: run ${status} in ${seconds.toFixed(1)} s; ` +
      `${outcome}; peak RSS ${before.toFixed(0)} MB before the run, ${peakRssMb().toFixed(0)} MB after`,
  );
} finally {
  await bench.close();
}

/** Runs `work` after a garbage collection, timed, with the peak RSS before it (reset to the current RSS first). */
async function measured(work: () => Promise<{ status: string }>) {
  if (global.gc) global.gc();
  // "5" resets VmHWM to the current RSS (Linux 4.0 and later), so a second run is measured alone.
  writeFileSync("/proc/self/clear_refs", "5");
  const before = peakRssMb();
  const t0 = performance.now();
  const { status } = await work();
  return { before, status, seconds: (performance.now() - t0) / 1000 };
}

/** The groups file; with `moved`, 1% of every group's members are other people (as after moves). */
async function writeGroups(file: string, moved = false) {
  // Written a thousand members at a time: building whole rows would raise the peak measured after.
  const out = createWriteStream(file);
  const write = (text: string) => (out.write(text) ? null : once(out, "drain"));
  await write("groupId,name,members\n");
  const group = async (id: string, n: number) => {
    await write(`${id},Group ${id},`);
    for (let from = 0; from < n; from += 1000) {
      const ids = Array.from({ length: Math.min(1000, n - from) }, (_, m) => {
        const member = from + m;
        return `E${String(moved && member % 100 === 0 ? member + 5_000_000 : member).padStart(7, "0")}`;
      });
      await write(`${from ? "|" : ""}${ids.join("|")}`);
    }
    await write("\n");
  };
  for (let g = 0; g < groups; g++) await group(`dept${g}`, members);
  for (let g = 0; g < people; g++) await group(`project${g}`, 25);
  out.end();
  await once(out, "finish");
}

/**
 * The groups file fully imported; with `delta`, measured is the delta import of its next version;
 * with `sync`, the delta sync after it.
 */
async function importGroups(phase: "import" | "delta" | "sync") {
  const file = path.join(bench.dir, "groups.csv");
  await writeGroups(file);
  const config = { path: file, anchor: "groupId", objectType: "group", multiValued: ["members"] };
  const system = await bench.services.systems.create({ name: "hr-groups", kind: "CSV", config });
  const connector = await createConnector("CSV", config, {
    logger: bench.services.logger,
    fileRoots: bench.services.config.fileRoots,
  });
  const run = (profile: "FULL_IMPORT" | "DELTA_IMPORT" | "FULL_SYNC" | "DELTA_SYNC") =>
    runEngine(bench.services, { systemId: system.id, profile, connector });
  if (phase === "sync") await provisionGroups(system.id);
  let result = await measured(() => run("FULL_IMPORT"));
  if (phase === "sync") await exportedAsPlanned(await run("FULL_SYNC"));
  if (phase !== "import") {
    await writeGroups(file, true);
    result = await measured(() => run("DELTA_IMPORT"));
  }
  if (phase === "sync") result = await measured(() => run("DELTA_SYNC"));
  const { rows } = await bench.services.db.pool.query<{ n: number; updated: number; bytes: number; planned: number }>(
    `SELECT count(*)::int AS n, (SELECT updated FROM run WHERE connected_system_id = $1 ORDER BY created_at DESC LIMIT 1) AS updated,
            (SELECT sum(pg_column_size(c.attribute_changes))::float8 FROM run_change c
              WHERE c.run_id = (SELECT id FROM run WHERE connected_system_id = $1 ORDER BY created_at DESC LIMIT 1)) AS bytes,
            (SELECT COALESCE(sum(pg_column_size(p.attribute_changes) + COALESCE(pg_column_size(p.before_values), 0)), 0)::float8
               FROM pending_export p
              WHERE p.planning_run_id = (SELECT id FROM run WHERE connected_system_id = $1 ORDER BY created_at DESC LIMIT 1)) AS planned
       FROM connector_space_object WHERE connected_system_id = $1`,
    [system.id],
  );
  return {
    ...result,
    outcome: `${rows[0]!.n} objects stored, ${rows[0]!.updated} updated by the run, whose run changes hold ${(rows[0]!.bytes / 1048576).toFixed(1)} MB of attribute changes${
      phase === "sync"
        ? ` and its pending exports ${(rows[0]!.planned / 1048576).toFixed(1)} MB of changes and before-values`
        : ""
    }`,
  };
}

/** The export of the large groups; with `confirm`, measured is the full import that follows it. */
async function exportGroups(confirm: boolean) {
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
    // As `metasync systems discover` does: imports and the objects' expected state follow its shapes.
    await bench.services.connectionActions.refreshSchema(system.id);
    /** `count` objects of `type` awaiting their CREATE, planned `ageSeconds` ago; `changes` is SQL over o.anchor. */
    const provision = (type: string, rdn: string, ou: string, count: number, ageSeconds: number, changes: string) =>
      pool.query(
        `WITH o AS (
           INSERT INTO connector_space_object (connected_system_id, object_type, anchor, distinguished_name, attributes, content_hash, status)
           SELECT $1, $2, left($2, 1) || i, $3 || '=' || left($2, 1) || i || ',' || $4, '{}', '', 'PENDING_PROVISIONING'
             FROM generate_series(1, $5) i RETURNING id, anchor)
         INSERT INTO pending_export (connected_system_id, connector_space_object_id, change_type, status, attribute_changes, created_at)
         SELECT $1, o.id, 'CREATE', 'PENDING', ${changes}, now() - make_interval(secs => $6) FROM o`,
        [system.id, type, rdn, `${ou},${slapd.baseDn}`, count, ageSeconds],
      );
    const add = (attribute: string, values: string) =>
      `jsonb_build_object('attribute', '${attribute}', 'operation', 'ADD', 'values', ${values})`;
    // Groups first in the claim order (planned earlier), as a full sync of groups leaves them
    // beside the people it planned before.
    const memberUids = `(SELECT jsonb_agg('user' || m || '.' || o.anchor) FROM generate_series(1, ${members}) m)`;
    await provision(
      "group",
      "cn",
      "ou=groups",
      groups,
      3600,
      `jsonb_build_array(${add("cn", "jsonb_build_array(o.anchor)")},
      ${add("gidNumber", "jsonb_build_array('10000')")}, ${add("memberUid", memberUids)})`,
    );
    await provision(
      "person",
      "uid",
      "ou=people",
      people,
      0,
      `jsonb_build_array(${add("uid", "jsonb_build_array(o.anchor)")},
      ${add("cn", "jsonb_build_array('Zoë ' || o.anchor)")}, ${add("sn", `jsonb_build_array('Müller')`)})`,
    );
    const connector = await createConnector("LDAP", config, { logger: bench.services.logger });
    const exported = await measured(() => runEngine(bench.services, { systemId: system.id, profile: "EXPORT", connector }));
    const result = confirm
      ? await measured(() => runEngine(bench.services, { systemId: system.id, profile: "FULL_IMPORT", connector }))
      : exported;
    await connector.close();
    const { rows } = await pool.query<{ status: string; n: number }>(
      "SELECT status::text, count(*)::int AS n FROM pending_export WHERE connected_system_id = $1 GROUP BY 1 ORDER BY 1",
      [system.id],
    );
    // What the confirming import found: objects it saw unchanged, and those it wrote again.
    const imported = confirm
      ? (
          await pool.query<{ unchanged: number; updated: number }>(
            "SELECT unchanged, updated FROM run WHERE connected_system_id = $1 AND operation = 'connector.full_import' ORDER BY created_at DESC LIMIT 1",
            [system.id],
          )
        ).rows[0]
      : null;
    const counted = imported ? `; import: ${imported.unchanged} unchanged, ${imported.updated} updated` : "";
    return { ...result, outcome: `exports ${rows.map((r) => `${r.status} ${r.n}`).join(", ")}${counted}` };
  } finally {
    await slapd.stop();
  }
}

/** Rules as the product benchmark has them: groups projected, and provisioned as RFC 2307 groups. */
async function provisionGroups(sourceId: string) {
  const { prisma } = bench.services.db;
  const target = await bench.services.systems.create({
    name: "groups-file",
    kind: "CSV",
    config: { path: path.join(bench.dir, "groups-out.csv"), anchor: "cn", objectType: "group", multiValued: ["memberUid"] },
  });
  await prisma.syncRule.create({
    data: {
      name: "groups-in",
      connectedSystemId: sourceId,
      direction: "INBOUND",
      objectType: "group",
      metaverseObjectType: "group",
      projectToMetaverse: true,
      joinRules: [{ source: "groupId", metaverseAttribute: "groupId" }],
      attributeFlows: ["groupId", "name", "members"].map((a) => ({ target: a, source: a })),
    },
  });
  await prisma.syncRule.create({
    data: {
      name: "groups-out",
      connectedSystemId: target.id,
      direction: "OUTBOUND",
      objectType: "group",
      metaverseObjectType: "group",
      provisionToConnector: true,
      attributeFlows: [
        { target: "cn", source: "groupId" },
        { target: "memberUid", expression: "$map(members, $lowercase)" },
      ],
    },
  });
}

/** The CREATEs a sync planned, stored as an export and its confirming import would leave them. */
async function exportedAsPlanned(sync: { id: string }) {
  const { pool } = bench.services.db;
  await pool.query(
    `UPDATE connector_space_object c
        SET status = 'NORMAL', anchor = c.attributes->>'cn',
            attributes = (SELECT jsonb_object_agg(x->>'attribute', x->'values') FROM jsonb_array_elements(p.attribute_changes) x)
       FROM pending_export p WHERE p.connector_space_object_id = c.id AND p.planning_run_id = $1`,
    [sync.id],
  );
  await pool.query("UPDATE pending_export SET status = 'CONFIRMED' WHERE planning_run_id = $1", [sync.id]);
}
