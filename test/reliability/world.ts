// One complete installation for the crash tests: its own database, its own slapd, its own SQL
// target table, an HR CSV, and the rules that provision HR people to both targets. Runs are
// executed by worker child processes (test/fixtures/worker-process.ts) that a test may arm to
// SIGKILL themselves at a chosen point (test/fixtures/kill-points.ts).
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "ldapts";
import pg from "pg";
import type { RunProfile } from "../../src/generated/prisma/enums.ts";
import { operationForProfile } from "../../src/jobs/operations.ts";
import type { Services } from "../../src/services.ts";
import type { BatchSizes, KillPoint } from "../fixtures/kill-points.ts";
import { FAST_RUN_OPTIONS, spawnWorkerProcess, waitFor, waitForStatus } from "../fixtures/runs.ts";
import { createTestDatabaseUrl } from "../helpers/database.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";
import { type Slapd, startSlapd } from "../helpers/slapd.ts";

type WorkerProcess = Awaited<ReturnType<typeof spawnWorkerProcess>>;

export interface Person {
  employeeId: string;
  givenName: string;
  sn: string;
  department: string;
  managerId: string;
}

/** `count` people; the first ten manage the rest (references the LDAP export resolves to DNs). */
export function people(count: number): Person[] {
  return Array.from({ length: count }, (_, i) => ({
    employeeId: `E${String(i + 1).padStart(5, "0")}`,
    givenName: `Given${i % 89}`,
    sn: `Surname${i}`,
    department: `D${i % 7}`,
    managerId: i < 10 ? "" : `E${String((i % 10) + 1).padStart(5, "0")}`,
  }));
}

/** What a kill did, for the suite's table. */
export interface KillRecord {
  profile: RunProfile;
  system: SystemName;
  kill: KillPoint;
  /** The run as the database held it after the SIGKILL. */
  atKill: { status: string; batch: number; processed: number };
  finalStatus: string;
  attempts: number;
}

export type SystemName = "hr" | "ldap" | "sql";

export interface World {
  services: Services;
  slapd: Slapd;
  sql: pg.Client;
  ids: Record<SystemName, string>;
  /** The HR source file and the SQL target's database. */
  hrFile: string;
  sqlUrl: string;
  kills: KillRecord[];
  /** Run a profile to its end, through every kill point of the plan that falls in it. */
  run(system: SystemName, profile: RunProfile): Promise<Record<string, number | string>>;
  snapshot(): Promise<Snapshot>;
  close(): Promise<void>;
}

/**
 * `killPlan`: where workers die, in order; each kill point names its operation and system, and
 * the worker armed with it runs every other run normally until it gets there.
 */
export async function createWorld(rows: Person[], batches: BatchSizes, killPlan: KillPoint[] = []): Promise<World> {
  const secretKey = randomBytes(32).toString("hex");
  const slapd = await startSlapd();
  const sqlUrl = await createTestDatabaseUrl();
  const sql = new pg.Client({ connectionString: sqlUrl });
  await sql.connect();
  await sql.query("CREATE TABLE accounts (id text PRIMARY KEY, display_name text NOT NULL, department text)");
  const dir = mkdtempSync(path.join(tmpdir(), "metasync-crash-"));
  chmodSync(dir, 0o755);
  const hrFile = path.join(dir, "hr.csv");
  writeFileSync(
    hrFile,
    [
      "employeeId,givenName,sn,department,managerId",
      ...rows.map((p) => [p.employeeId, p.givenName, p.sn, p.department, p.managerId].join(",")),
    ].join("\n"),
  );
  const services = await createTestServices({ secretKey }, { runOptions: FAST_RUN_OPTIONS });
  const ids = await configure(services, hrFile, slapd, sqlUrl, batches);
  const workers: WorkerProcess[] = [];
  const kills: KillRecord[] = [];
  const plan = [...killPlan];

  /** A worker armed with the next kill point of the plan (clean once the plan is used up). */
  const spawn = async () => {
    const kill = plan.shift() ?? null;
    const env: Record<string, string> = {
      WORKER_EXECUTORS: "default",
      WORKER_SECRET_KEY: secretKey,
      WORKER_BATCHES: JSON.stringify(batches),
      // Take a killed worker's run over soon; still 12 missed heartbeats (250 ms), so a live
      // worker on a loaded machine never looks dead.
      WORKER_STALE_MS: "3000",
    };
    if (kill) env.WORKER_KILL = JSON.stringify(kill);
    const worker = await spawnWorkerProcess(services.db.url, { total: 0, batchSize: 1 }, env);
    workers.push(worker);
    return { worker, kill };
  };
  // One live worker at a time, so the armed one is the one that takes the run.
  let current = await spawn();

  const world: World = {
    services,
    slapd,
    sql,
    ids,
    hrFile,
    sqlUrl,
    kills,
    async run(system, profile) {
      const operation = operationForProfile(profile).type;
      const started = await services.startGate.start({ connectedSystemId: ids[system], profile, trigger: "API" });
      if (started.outcome !== "ACCEPTED") throw new Error(`${profile} ${system}: ${started.outcome}`);
      const id = started.run.id;
      const ended = (status: string) => ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"].includes(status);
      const killsBefore = kills.length;
      while (current.kill?.operation === operation && current.kill.system === system) {
        const { worker, kill } = current;
        // Once the armed worker holds the run, its successor starts (armed with the next kill
        // point): it takes the run over only when the heartbeat went stale, after the kill.
        await waitFor(async () => {
          const row = await services.db.prisma.run.findUniqueOrThrow({ where: { id } });
          if (ended(row.status)) throw new Error(`${profile} ${system} ended ${row.status} before ${JSON.stringify(kill)}`);
          return row.status === "RUNNING" && row.workerId === worker.workerId;
        }, 60_000);
        current = await spawn();
        // The kill point must be reached: a run that ends with its armed worker alive fails the test.
        await waitFor(async () => {
          if (worker.child.signalCode === "SIGKILL") return true;
          const row = await services.db.prisma.run.findUniqueOrThrow({ where: { id } });
          if (ended(row.status))
            throw new Error(`${profile} ${system} ended ${row.status} before ${JSON.stringify(kill)} was reached`);
          return false;
        }, 60_000);
        const atKill = await services.db.prisma.run.findUniqueOrThrow({ where: { id } });
        kills.push({
          profile,
          system,
          kill,
          atKill: { status: atKill.status, batch: atKill.batch, processed: atKill.processed },
          finalStatus: "",
          attempts: 0,
        });
      }
      const done = await waitForStatus(services, id, ["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"], 120_000);
      for (const record of kills.slice(killsBefore)) {
        record.finalStatus = done.status;
        record.attempts = done.attempt;
      }
      return {
        status: done.status,
        fetched: done.fetched,
        created: done.created,
        updated: done.updated,
        deleted: done.deleted,
        unchanged: done.unchanged,
        failed: done.failed,
        exportsQueued: done.exportsQueued,
      };
    },
    snapshot: () => snapshot(services, ids, slapd, sql),
    async close() {
      for (const worker of workers)
        if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.exited));
      await closeTestServices(services).catch(() => {});
      await sql.end().catch(() => {});
      await slapd.stop();
    },
  };
  return world;
}

/** The three systems and their rules, as in the provisioning story (test/e2e/provisioning.test.ts). */
async function configure(services: Services, hrFile: string, slapd: Slapd, sqlUrl: string, batches: BatchSizes) {
  const system = async (input: Parameters<Services["systems"]["create"]>[0]) => {
    const created = await services.systems.create(input);
    await services.connectionActions.refreshSchema(created.id);
    return created.id;
  };
  const hr = await system({
    name: "hr",
    kind: "CSV",
    config: { path: hrFile, anchor: "employeeId", objectType: "person", pageSize: batches.import ?? 1000 },
  });
  const ldap = await system({
    name: "ldap",
    kind: "LDAP",
    config: {
      url: slapd.url,
      bindDn: slapd.bindDn,
      bindPassword: slapd.password,
      baseDn: `ou=people,${slapd.baseDn}`,
      objectClasses: ["inetOrgPerson"],
      objectType: "person",
    },
  });
  const sql = await system({
    name: "sql",
    kind: "SQL",
    config: { connectionString: sqlUrl, table: "accounts", anchor: "id", objectType: "account" },
  });
  const rule = (input: Record<string, unknown>) => services.syncRules.create(input as never);
  await rule({
    name: "hr-people",
    connectedSystemId: hr,
    direction: "INBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    projectToMetaverse: true,
    precedence: 10,
    joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
    attributeFlows: ["employeeId", "givenName", "sn", "department", "managerId"].map((a) => ({ target: a, source: a })),
  });
  await rule({
    name: "directory-accounts",
    connectedSystemId: ldap,
    direction: "OUTBOUND",
    objectType: "person",
    metaverseObjectType: "person",
    provisionToConnector: true,
    attributeFlows: [
      { target: "uid", expression: "$lowercase(givenName) & '.' & $lowercase(sn)", initialOnly: true },
      { target: "dn", expression: `'cn=' & givenName & ' ' & sn & ',ou=people,${slapd.baseDn}'`, unique: true },
      { target: "cn", expression: "givenName & ' ' & sn" },
      { target: "sn", source: "sn" },
      { target: "givenName", source: "givenName" },
      { target: "employeeNumber", source: "employeeId" },
      { target: "departmentNumber", source: "department" },
      { target: "manager", source: "managerId", reference: true },
    ],
  });
  await rule({
    name: "sql-accounts",
    connectedSystemId: sql,
    direction: "OUTBOUND",
    objectType: "account",
    metaverseObjectType: "person",
    provisionToConnector: true,
    attributeFlows: [
      { target: "id", source: "employeeId" },
      { target: "display_name", expression: "givenName & ' ' & sn" },
      { target: "department", source: "department" },
    ],
  });
  return { hr, ldap, sql };
}

/** Everything a crash could have lost or duplicated, free of ids that differ between installations. */
export interface Snapshot {
  connectorSpace: Record<string, string[]>;
  metaverse: string[];
  pendingExports: Record<string, number>;
  ldap: string[];
  sql: string[];
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** Values each installation makes its own: server-made ids and times. */
const OWN_VALUES = new Set(["entryUUID", "entryCSN", "createTimestamp", "modifyTimestamp", "creatorsName", "modifiersName"]);

function canonical(value: unknown): string {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === "object")
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>)
          .filter(([k]) => !OWN_VALUES.has(k))
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, x]) => [k, strip(x)]),
      );
    return typeof v === "string" ? v.replace(UUID, "<id>") : v;
  };
  return JSON.stringify(strip(value));
}

async function snapshot(services: Services, ids: World["ids"], slapd: Slapd, sql: pg.Client): Promise<Snapshot> {
  const pool = services.db.pool;
  const connectorSpace: Record<string, string[]> = {};
  for (const [name, id] of Object.entries(ids)) {
    const { rows } = await pool.query(
      `SELECT object_type, anchor, distinguished_name AS dn, attributes, status, join_type, metaverse_object_id IS NOT NULL AS joined
         FROM connector_space_object WHERE connected_system_id = $1`,
      [id],
    );
    // A directory's anchor is its entryUUID, made by each slapd: the DN identifies the entry.
    connectorSpace[name] = rows.map((r) => canonical(name === "ldap" ? { ...r, anchor: undefined } : r)).sort();
  }
  const metaverse = (
    await pool.query("SELECT type, display_name, attributes, status FROM metaverse_object WHERE status <> 'DELETED'")
  ).rows
    .map(canonical)
    .sort();
  const exportsByStatus = await pool.query(
    `SELECT s.name, p.change_type, p.status, count(*)::int AS n FROM pending_export p JOIN connected_system s ON s.id = p.connected_system_id
      GROUP BY 1, 2, 3`,
  );
  const pendingExports = Object.fromEntries(exportsByStatus.rows.map((r) => [`${r.name} ${r.change_type} ${r.status}`, r.n]));
  const client = new Client({ url: slapd.url });
  let ldap: string[];
  try {
    await client.bind(slapd.bindDn, slapd.password);
    const { searchEntries } = await client.search(`ou=people,${slapd.baseDn}`, {
      scope: "one",
      filter: "(objectClass=*)",
      attributes: ["*"],
      sizeLimit: 0,
      paged: { pageSize: 500 },
    });
    ldap = searchEntries.map((e) => canonical({ ...e, dn: e.dn.toLowerCase() })).sort();
  } finally {
    await client.unbind();
  }
  const rows = (await sql.query("SELECT * FROM accounts ORDER BY id")).rows.map(canonical);
  return { connectorSpace, metaverse, pendingExports, ldap, sql: rows };
}
