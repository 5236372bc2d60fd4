import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Config } from "../../config.ts";
import type { Run } from "../../generated/prisma/client.ts";
import type { Logger } from "../../logger.ts";
import { closeRuntime, openRuntime } from "../../runtime.ts";
import type { Services } from "../../services.ts";
import { explainRun } from "../../systems/run-explanation.ts";
import type { ScheduleStep } from "../../systems/schedules.ts";
import { applyCommand } from "../apply.ts";
import { EXIT, UsageError } from "../session.ts";
import { untilSignal } from "../signals.ts";
import { startWorkerProcess } from "../worker-process.ts";
import { writeDemoPeople } from "./demo-people.ts";

export const DEMO_USAGE =
  "demo [--people N]   a demo on an empty DATA_DIR: generated HR data, SQL and CSV targets, one cycle, then serve";

/** The apply document the demo uses: the product's own format, readable and editable in examples/. */
export const DEMO_DOCUMENT = fileURLToPath(new URL("../../../examples/demo.yaml", import.meta.url));
/** The demo's SQL target: a schema of the database the server itself uses. */
const SQL_SCHEMA = "metasync_demo";
const CYCLE = "demo-cycle";

/**
 * `metasync demo`: one command from an empty data directory to a dashboard with real runs. It
 * writes a generated HR file, makes the target table, applies examples/demo.yaml through
 * `metasync apply`, discovers the schemas, then serves like `metasync serve` (API, dashboard and a
 * worker process) and runs the schedule's cycle once through the start gate. Run again on the
 * same DATA_DIR it refreshes the target's connection (the embedded PostgreSQL's port changes
 * between starts) and runs the cycle again.
 */
export async function demoCommand(args: string[], config: Config, logger: Logger): Promise<number> {
  let people: number;
  try {
    people = parse(args);
  } catch (e) {
    console.error(`metasync demo: ${(e as Error).message}\nusage: metasync ${DEMO_USAGE}`);
    return EXIT.USAGE;
  }
  const services = await openRuntime(config, logger, { migrate: true });
  let setup: number;
  try {
    setup = await prepare(services, config, people);
  } catch (e) {
    await closeRuntime(services);
    throw e;
  }
  if (setup !== EXIT.OK) {
    await closeRuntime(services);
    return setup;
  }
  // Loaded here only, as in serve: the GraphQL schema and server cost seconds other commands need not pay.
  const { buildApp } = await import("../../server/app.ts");
  const app = buildApp(services);
  const signalled = untilSignal();
  let url: string;
  try {
    ({ url } = await app.start());
  } catch (e) {
    await closeRuntime(services);
    throw e;
  }
  const worker = startWorkerProcess({ logger, env: { ...process.env, DATABASE_URL: services.db.url } });
  console.log(`\nDashboard: ${url}/   (the cycle runs now; Ctrl-C stops the server)\n`);
  const cycle = runCycle(services).then(
    (seconds) =>
      console.log(
        `\ndemo cycle done in ${seconds.toFixed(1)} s: runs at ${url}/, people at ${url}/#/objects, ` +
          `pending exports at ${url}/#/exports; the schedule "${CYCLE}" repeats it every hour.`,
      ),
    (e) => console.error(`demo cycle stopped: ${(e as Error).message}`),
  );
  await signalled;
  logger.info("shutting down");
  await worker.stop();
  await app.stop();
  await closeRuntime(services);
  void cycle;
  return EXIT.OK;
}

function parse(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { people: { type: "string", default: "2000" } },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const people = Number(values.people);
  if (!Number.isInteger(people) || people < 10 || people > 100_000)
    throw new UsageError("--people must be a whole number from 10 to 100000");
  return people;
}

/** Data, target table and configuration; EXIT.USAGE when the data directory is someone else's. */
async function prepare(services: Services, config: Config, people: number): Promise<number> {
  const others = (await services.db.prisma.connectedSystem.findMany({ select: { name: true } }))
    .map((s) => s.name)
    .filter((n) => !n.startsWith("demo-"));
  if (others.length) {
    console.error(
      `metasync demo: ${config.dataDir} already holds connected systems (${others.join(", ")}); the demo needs an empty data directory, e.g. DATA_DIR=.data-demo npx metasync demo`,
    );
    return EXIT.USAGE;
  }
  const dir = demoFolder(config);
  await mkdir(dir, { recursive: true });
  const written = await writeDemoPeople(people, path.join(dir, "people.csv"));
  console.log(`wrote ${written.people} people (${written.leavers} leavers) to ${path.join(dir, "people.csv")}`);

  // The target system: a table in its own schema of the server's database, made as a DBA would.
  await services.db.pool.query(`CREATE SCHEMA IF NOT EXISTS ${SQL_SCHEMA}`);
  await services.db.pool.query(
    `CREATE TABLE IF NOT EXISTS ${SQL_SCHEMA}.accounts (
       employee_id text PRIMARY KEY, display_name text NOT NULL, email text, department text, title text,
       manager_id text, status text NOT NULL DEFAULT 'active')`,
  );
  const db = new URL(services.db.url);
  Object.assign(process.env, {
    DEMO_DIR: dir,
    DEMO_SQL_USER: decodeURIComponent(db.username),
    DEMO_SQL_PASSWORD: decodeURIComponent(db.password),
    DEMO_SQL_HOST: db.hostname,
    DEMO_SQL_PORT: db.port || "5432",
    DEMO_SQL_DATABASE: decodeURIComponent(db.pathname.slice(1)),
  });
  const applied = await applyCommand(services, [DEMO_DOCUMENT]);
  if (applied !== EXIT.OK) return applied;
  for (const system of await services.db.prisma.connectedSystem.findMany({ where: { name: { startsWith: "demo-" } } })) {
    await services.connectionActions.refreshSchema(system.id);
    console.log(`discovered the schema of ${system.name}`);
  }
  return EXIT.OK;
}

/** DATA_DIR/files/demo when file connectors may use it (the default), else a folder in the first allowed root. */
function demoFolder(config: Config): string {
  const preferred = path.join(config.dataDir, "files", "demo");
  const inside = (root: string) => {
    const rel = path.relative(path.resolve(root), preferred);
    return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
  };
  if (!config.fileRoots.length || config.fileRoots.some(inside)) return preferred;
  return path.join(config.fileRoots[0]!, "metasync-demo");
}

/** The schedule's steps once, in order, each through the start gate and awaited; seconds taken. */
async function runCycle(services: Services): Promise<number> {
  const t0 = performance.now();
  const schedule = await services.db.prisma.schedule.findUniqueOrThrow({ where: { name: CYCLE } });
  const steps = schedule.steps as unknown as ScheduleStep[];
  const names = new Map(
    (await services.db.prisma.connectedSystem.findMany({ select: { id: true, name: true } })).map((s) => [s.id, s.name]),
  );
  for (const [i, step] of steps.entries()) {
    const what = `${names.get(step.connectedSystemId)} ${step.profile.toLowerCase()}`;
    const result = await services.startGate.start({
      connectedSystemId: step.connectedSystemId,
      profile: step.profile,
      trigger: "MANUAL",
    });
    if (result.outcome !== "ACCEPTED" && result.outcome !== "DEDUPED")
      throw new Error(`${what}: ${result.outcome} ${result.failure?.reasonCode ?? ""} ${result.failure?.reason ?? ""}`);
    const run = await finished(services, result.run.id);
    console.log(
      `step ${i + 1}/${steps.length} ${what}: ${run.status} (fetched ${run.fetched}, created ${run.created}, updated ${run.updated}, deleted ${run.deleted}, failed ${run.failed}, exports queued ${run.exportsQueued})`,
    );
    // A step with nothing to do (the second time the demo runs) says why, as `metasync run --wait` does.
    const why = await explainRun(services.db.prisma, run);
    if (why) console.log(`  why: ${why.code}: ${why.message}`);
    if (run.status !== "COMPLETED") throw new Error(`${what} ended ${run.status}${run.error ? `: ${run.error}` : ""}`);
  }
  return (performance.now() - t0) / 1000;
}

async function finished(services: Services, runId: string): Promise<Run> {
  let last: Run | null = null;
  for await (const run of services.runFeed.run(runId)) last = run;
  if (!last) throw new Error(`run ${runId} disappeared`);
  return last;
}
