// The product-path benchmark: the whole identity cycle as a user runs it. `metasync serve` with
// its own embedded PostgreSQL in a temp DATA_DIR, separate `metasync worker` processes, a
// private slapd, configuration by `metasync apply`, and every phase started with startRun over
// GraphQL (start gate -> pg-boss -> a worker) and followed over graphql-ws. Each phase is timed,
// its processes' memory sampled, and a bare tool's run on the same data measured beside it.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { HrData, writeGroupsCsv, writePeopleCsv } from "../../src/cli/demo/hr-data.ts";
import { startEmbeddedPostgres } from "../../src/db/embedded-postgres.ts";
import { loadLdif, type Slapd, startSlapd } from "../../test/helpers/slapd.ts";
import { ProductApi, type RunResult } from "./api.ts";
import { probeHealth, subscribeMany } from "./fanout.ts";
import { memorySampler, type ProductProcess, productEnv, startProduct } from "./processes.ts";
import * as ref from "./references.ts";
import { type BenchResults, machine, PHASES, type PhaseName, type PhaseResult, phaseResult, round } from "./results.ts";
import { applyDocument, departmentOus, SQL_COLUMNS, SYSTEMS } from "./setup.ts";

export interface BenchOptions {
  size: number;
  /** Phases to report; the phases they depend on run too, unreported. Default: all. */
  phases?: PhaseName[];
  workers?: number;
  subscribers?: number;
  log?: (line: string) => void;
  /** Called with the live environment after the last phase, before anything is stopped (tests look at the targets). */
  inspect?: (env: BenchEnvironment) => Promise<void>;
}

export interface BenchEnvironment {
  slapd: Slapd;
  /** The SQL target's database. */
  sqlUrl: string;
  sqlTable: string;
  csvTarget: string;
  api: ProductApi;
  data: HrData;
}

/** Phases every later phase needs (the rest run only when asked for). */
const OPTIONAL: PhaseName[] = ["page_pending_exports", "subscription_fanout"];
/** The order phases run in: pending exports are paged while all of them are still pending. */
const RUN_ORDER: PhaseName[] = [
  "full_import",
  "full_sync",
  "page_pending_exports",
  "export_ldap",
  "export_sql",
  "export_csv",
  "confirming_import",
  "unchanged_reimport",
  "delta_cycle",
  "subscription_fanout",
];

export async function runProductBench(options: BenchOptions): Promise<BenchResults> {
  const started = performance.now();
  const print = options.log ?? ((line: string) => console.error(line));
  const log = (line: string) => print(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${line}`);
  const wanted = new Set<PhaseName>(options.phases?.length ? options.phases : PHASES);
  const last = Math.max(...[...wanted].map((p) => RUN_ORDER.indexOf(p)));
  const runs = (p: PhaseName) => RUN_ORDER.indexOf(p) <= last && (wanted.has(p) || !OPTIONAL.includes(p));
  const workerCount = options.workers ?? 2;
  const loadStart = round(os.loadavg()[0] ?? 0);

  const base = mkdtempSync(path.join(tmpdir(), "metasync-bench-"));
  chmodSync(base, 0o755); // as root the embedded PostgreSQL runs as "postgres", which must enter it
  const dataDir = path.join(base, "data");
  const files = path.join(dataDir, "files");
  mkdirSync(files, { recursive: true });
  const hrPeople = path.join(files, "hr-people.csv");
  const hrGroups = path.join(files, "hr-groups.csv");
  const csvTarget = path.join(files, "accounts.csv");

  const stops: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const stop of stops.reverse()) await stop().catch((e) => log(`cleanup: ${e}`));
    rmSync(base, { recursive: true, force: true });
  };
  try {
    const slapd = await startSlapd();
    stops.push(() => slapd.stop());
    // The bare tools' directory: the same server software and configuration, empty.
    const rawSlapd = await startSlapd();
    stops.push(() => rawSlapd.stop());
    const ldap: ref.LdapTarget = { url: slapd.url, bindDn: slapd.bindDn, password: slapd.password, baseDn: slapd.baseDn };
    const rawLdap: ref.LdapTarget = { ...ldap, url: rawSlapd.url };
    writeFileSync(path.join(base, "ous.ldif"), departmentOus(slapd.baseDn));
    loadLdif(slapd.url, slapd.bindDn, slapd.password, path.join(base, "ous.ldif"));

    const env = productEnv(dataDir, files, {
      // Two dozen runs in a few minutes.
      METASYNC_START_RUN_BURST: "1000",
      BENCH_LDAP_PASSWORD: slapd.password,
    });
    log("starting metasync serve and workers");
    const serve = startProduct("serve", ["serve", "--no-worker"], env);
    stops.push(() => serve.stop());
    const url = (await serve.waitFor(/listening on http/, 120_000)).match(/listening on (http:\/\/[\d.]+:\d+)/)?.[1];
    if (!url) throw new Error("serve did not log its URL");
    const workers: ProductProcess[] = [];
    for (let n = 0; n < workerCount; n++) {
      const w = startProduct(`worker ${n + 1}`, ["worker"], env);
      workers.push(w);
      stops.push(() => w.stop());
    }
    // Workers start (a few seconds each) while the targets and the configuration are prepared.
    const workersReady = Promise.all(workers.map((w) => w.waitFor(/worker started/, 120_000)));
    workersReady.catch(() => {});
    const api = new ProductApi(url);
    stops.push(() => api.close());
    log(`serve ${url} (pid ${serve.child.pid}), workers ${workers.map((w) => w.child.pid).join(", ")}, slapd ${slapd.url}`);

    // The server's database (to read what the product wrote) and a second database for the SQL target.
    const pgDir = path.join(dataDir, "pg");
    const metasyncUrl = (await startEmbeddedPostgres(pgDir, "metasync")).url;
    const sqlUrl = (await startEmbeddedPostgres(pgDir, "bench_target")).url;
    const db = new pg.Client({ connectionString: metasyncUrl });
    const target = new pg.Client({ connectionString: sqlUrl });
    await db.connect();
    await target.connect();
    stops.push(() => db.end());
    stops.push(() => target.end());
    const sqlTable = { schema: "directory", table: "accounts" };
    await target.query(`CREATE SCHEMA ${sqlTable.schema}`);
    await target.query(`CREATE TABLE ${sqlTable.schema}.${sqlTable.table} (${SQL_COLUMNS})`);
    const sqlName = `${sqlTable.schema}.${sqlTable.table}`;

    const data = new HrData(options.size);
    const people = await writePeopleCsv(data, hrPeople);
    const groups = await writeGroupsCsv(data, hrGroups);
    log(`HR files: ${people} people, ${groups} groups`);

    const yamlFile = path.join(base, "metasync.yaml");
    writeFileSync(
      yamlFile,
      applyDocument({
        hrPeople,
        hrGroups,
        csvTarget,
        ldap: { url: slapd.url, bindDn: slapd.bindDn, baseDn: slapd.baseDn },
        sqlTable,
      }),
    );
    const apply = startProduct("apply", ["apply", yamlFile], { ...env, BENCH_SQL_URL: sqlUrl });
    const applied = await new Promise<number>((resolve) => apply.child.once("exit", (code) => resolve(code ?? 1)));
    if (applied !== 0) throw new Error(`metasync apply failed:\n${apply.output()}`);
    const ids = await api.systems();
    const id = (name: string) => {
      const found = ids.get(name);
      if (!found) throw new Error(`no connected system ${name}`);
      return found;
    };
    for (const name of Object.values(SYSTEMS)) await api.refreshSchema(id(name));
    log("configured by metasync apply; schemas discovered");
    await workersReady;

    const memory = memorySampler(serve, workers);
    stops.push(async () => memory.stop());
    const results: PhaseResult[] = [];
    const timed = async <T>(fn: () => Promise<T>) => {
      memory.reset();
      const since = (await db.query<{ now: Date }>("SELECT clock_timestamp() AS now")).rows[0]!.now;
      const t0 = performance.now();
      const value = await fn();
      const seconds = (performance.now() - t0) / 1000;
      // Where a phase's time went: waiting in the queue, running, and the rest (the start call and
      // the final status reaching the client).
      const { rows } = await db.query<{ op: string; system: string; queued: number; ran: number }>(
        `SELECT r.operation AS op, cs.name AS system,
                (EXTRACT(EPOCH FROM r.started_at - r.created_at) * 1000)::int AS queued,
                (EXTRACT(EPOCH FROM r.finished_at - r.started_at) * 1000)::int AS ran
           FROM run r JOIN connected_system cs ON cs.id = r.connected_system_id
          WHERE r.created_at >= $1 ORDER BY r.created_at`,
        [since],
      );
      if (rows.length) log(`  runs: ${rows.map((r) => `${r.op} ${r.system} queued ${r.queued} ms, ran ${r.ran} ms`).join("; ")}`);
      return { value, seconds, memory: memory.read() };
    };
    const both = <T>(a: () => Promise<T>, b: () => Promise<T>) => Promise.all([a(), b()]);
    const sum = (rs: RunResult[], f: keyof RunResult["counts"]) => rs.reduce((s, r) => s + r.counts[f], 0);
    const report = (r: PhaseResult) => {
      if (!wanted.has(r.name)) return;
      results.push(r);
      log(
        `${r.name}: ${r.objects} objects in ${r.seconds} s = ${r.objectsPerSecond}/s; ${r.limitName ?? "-"} ${r.limitObjectsPerSecond ?? "-"}/s; peak RSS ${r.peakRssMb} MB`,
      );
    };
    const identities = people + groups;

    // full_import: both HR files at once (two systems, two workers).
    {
      const {
        value,
        seconds,
        memory: mem,
      } = await timed(() =>
        both(
          () => api.run(id(SYSTEMS.hrPeople), "FULL_IMPORT"),
          () => api.run(id(SYSTEMS.hrGroups), "FULL_IMPORT"),
        ),
      );
      expectCount("full_import created", sum(value, "created"), identities);
      const copy = await ref.copyCsvFiles(db, { people: hrPeople, groups: hrGroups }, "a");
      report(
        phaseResult("full_import", identities, seconds, mem, {
          name: "COPY of the CSV files",
          objects: identities,
          seconds: copy,
        }),
      );
    }

    // full_sync: projection, flows and export planning to the directory, the table and the file.
    if (runs("full_sync")) {
      const {
        value,
        seconds,
        memory: mem,
      } = await timed(async () => [
        await api.run(id(SYSTEMS.hrPeople), "FULL_SYNC"),
        await api.run(id(SYSTEMS.hrGroups), "FULL_SYNC"),
      ]);
      expectCount("full_sync exports queued", sum(value, "exportsQueued"), 3 * people + groups);
      const copy = await ref.copySyncRows(db, data);
      report(
        phaseResult(
          "full_sync",
          identities,
          seconds,
          mem,
          { name: "COPY of identity + planned-change rows", objects: identities, seconds: copy },
          {
            exportsQueued: sum(value, "exportsQueued"),
          },
        ),
      );
    }

    if (runs("page_pending_exports")) {
      const pageSize = 500; // the largest page of these fields under the default query cost limit
      const { value: rows, seconds, memory: mem } = await timed(() => pageAllPendingExports(api, pageSize));
      expectCount("pending exports paged", rows, 3 * people + groups);
      const keyset = await ref.keysetPages(db, pageSize);
      report(
        phaseResult(
          "page_pending_exports",
          rows,
          seconds,
          mem,
          { name: "keyset SELECT pages", objects: keyset.rows, seconds: keyset.seconds },
          { pageSize },
        ),
      );
    }

    // The exports, one target at a time; each compared with the bare tool writing the same data.
    if (runs("export_ldap")) {
      const { value, seconds, memory: mem } = await timed(() => api.run(id(SYSTEMS.ldap), "EXPORT"));
      expectCount("export_ldap created", value.counts.created, identities);
      const raw = await ref.ldapaddSameEntries(rawLdap, data, path.join(base, "raw.ldif"));
      report(
        phaseResult(
          "export_ldap",
          identities,
          seconds,
          mem,
          { name: "ldapadd of the same LDIF", objects: identities, seconds: raw },
          {
            notes: "creates, then each person's manager reference once the manager's entry exists (a second modify per person)",
          },
        ),
      );
    }
    if (runs("export_sql")) {
      const { value, seconds, memory: mem } = await timed(() => api.run(id(SYSTEMS.sql), "EXPORT"));
      expectCount("export_sql created", value.counts.created, people);
      const raw = await ref.insertSelect(target, sqlName);
      report(phaseResult("export_sql", people, seconds, mem, { name: "INSERT ... SELECT", objects: people, seconds: raw }));
    }
    if (runs("export_csv")) {
      const { value, seconds, memory: mem } = await timed(() => api.run(id(SYSTEMS.csv), "EXPORT"));
      expectCount("export_csv created", value.counts.created, people);
      const raw = await ref.rewriteFile(csvTarget, path.join(base, "accounts-copy.csv"));
      report(
        phaseResult("export_csv", people, seconds, mem, {
          name: "write + fsync of the same file",
          objects: people,
          seconds: raw,
        }),
      );
    }

    // confirming_import: every target read back, confirming what was exported.
    if (runs("confirming_import")) {
      const {
        value,
        seconds,
        memory: mem,
      } = await timed(async () => [
        await api.run(id(SYSTEMS.ldap), "FULL_IMPORT"),
        await api.run(id(SYSTEMS.sql), "FULL_IMPORT"),
        await api.run(id(SYSTEMS.csv), "FULL_IMPORT"),
      ]);
      const objects = identities + 2 * people;
      const raw = ref.ldapsearchPaged(ldap) + (await ref.copyOut(target, sqlName)) + (await ref.readWholeFile(csvTarget));
      report(
        phaseResult(
          "confirming_import",
          objects,
          seconds,
          mem,
          { name: "ldapsearch paging + COPY TO + file read", objects, seconds: raw },
          {
            fetched: sum(value, "fetched"),
          },
        ),
      );
    }

    // unchanged_reimport: the same HR files again, then a delta sync that finds nothing to do.
    if (runs("unchanged_reimport")) {
      const {
        value,
        seconds,
        memory: mem,
      } = await timed(async () => [
        ...(await both(
          () => api.run(id(SYSTEMS.hrPeople), "FULL_IMPORT"),
          () => api.run(id(SYSTEMS.hrGroups), "FULL_IMPORT"),
        )),
        await api.run(id(SYSTEMS.hrPeople), "DELTA_SYNC"),
        await api.run(id(SYSTEMS.hrGroups), "DELTA_SYNC"),
      ]);
      expectCount("unchanged_reimport exports queued", sum(value, "exportsQueued"), 0);
      const copy = await ref.copyCsvFiles(db, { people: hrPeople, groups: hrGroups }, "b");
      report(
        phaseResult("unchanged_reimport", identities, seconds, mem, {
          name: "COPY of the CSV files",
          objects: identities,
          seconds: copy,
        }),
      );
    }

    // delta_cycle: 1% of the people change at HR; from the delta imports to the last target written.
    if (runs("delta_cycle")) {
      const before = new HrData(options.size);
      const changes = data.changeSet();
      await writePeopleCsv(data, hrPeople);
      await writeGroupsCsv(data, hrGroups);
      const {
        value,
        seconds,
        memory: mem,
      } = await timed(async () => [
        ...(await both(
          () => api.run(id(SYSTEMS.hrPeople), "DELTA_IMPORT"),
          () => api.run(id(SYSTEMS.hrGroups), "DELTA_IMPORT"),
        )),
        await api.run(id(SYSTEMS.hrPeople), "DELTA_SYNC"),
        await api.run(id(SYSTEMS.hrGroups), "DELTA_SYNC"),
        ...(await Promise.all([SYSTEMS.ldap, SYSTEMS.sql, SYSTEMS.csv].map((s) => api.run(id(s), "EXPORT")))),
      ]);
      const objects = changes.people + changes.groups;
      const beforeGroups = before.groups();
      const changedGroups = new Set(
        data
          .groups()
          .filter((g, k) => g.members.join() !== beforeGroups[k]?.members.join())
          .map((g) => g.groupId),
      );
      const raw = await ref.ldapmodifySameChanges(rawLdap, before, data, changedGroups, path.join(base, "changes.ldif"));
      report(
        phaseResult(
          "delta_cycle",
          objects,
          seconds,
          mem,
          { name: "ldapmodify of the same changes", objects, seconds: raw },
          {
            renamed: changes.renamed,
            moved: changes.moved,
            left: changes.left,
            groupsChanged: changes.groups,
            exported: sum(value.slice(4), "created") + sum(value.slice(4), "updated") + sum(value.slice(4), "deleted"),
          },
        ),
      );
    }

    if (runs("subscription_fanout")) {
      const count = options.subscribers ?? 1000;
      const fanout = await subscribeMany(api.wsUrl, count, id(SYSTEMS.hrPeople));
      stops.push(() => fanout.close());
      const healthDuringFanout = probeHealth(api.url);
      const {
        value: runId,
        seconds,
        memory: mem,
      } = await timed(async () => {
        const runId = await api.startRun(id(SYSTEMS.hrPeople), "FULL_SYNC");
        await fanout.deliveredFinal(runId, 300_000);
        return runId;
      });
      const health = await healthDuringFanout.stop();
      const stats = await fanout.stats(runId);
      await fanout.close();
      report(
        phaseResult("subscription_fanout", stats.deliveries, seconds, mem, null, {
          subscribers: count,
          lagP50Ms: stats.lagP50Ms,
          lagP99Ms: stats.lagP99Ms,
          finalStatusLagP50Ms: stats.finalLagP50Ms,
          finalStatusLagP99Ms: stats.finalLagP99Ms,
          healthzP50Ms: health.p50Ms,
          healthzP99Ms: health.p99Ms,
          healthzMaxMs: health.maxMs,
          notes: "objects = messages delivered (subscribers x run updates) during a full sync of the people",
        }),
      );
    }

    await options.inspect?.({ slapd, sqlUrl, sqlTable: sqlName, csvTarget, api, data });
    results.sort((a, b) => PHASES.indexOf(a.name) - PHASES.indexOf(b.name));
    return {
      size: options.size,
      machine: machine(),
      date: new Date().toISOString(),
      loadAverage: { start: loadStart, end: round(os.loadavg()[0] ?? 0) },
      workers: workerCount,
      phases: results,
    };
  } finally {
    await cleanup();
  }
}

function expectCount(what: string, actual: number, expected: number) {
  if (actual !== expected) throw new Error(`${what}: expected ${expected}, got ${actual}`);
}

/** Every pending export through GraphQL, page by page, as a script or dashboard reads them. */
async function pageAllPendingExports(api: ProductApi, first: number): Promise<number> {
  let after: string | null = null;
  let rows = 0;
  for (;;) {
    const page: { pendingExports: { pageInfo: { hasNextPage: boolean; endCursor: string }; edges: unknown[] } } = await api.gql(
      `query ($first: Int, $after: String) { pendingExports(first: $first, after: $after) {
         pageInfo { hasNextPage endCursor }
         edges { node { id status changeType errorCount nextRetryAt attributeChanges { attribute operation values } } } } }`,
      { first, after },
    );
    rows += page.pendingExports.edges.length;
    if (!page.pendingExports.pageInfo.hasNextPage) return rows;
    after = page.pendingExports.pageInfo.endCursor;
  }
}
