import { parseArgs } from "node:util";
import { apikeyCommand } from "./cli/apikey.ts";
import { applyCommand } from "./cli/apply.ts";
import { DEMO_USAGE, demoCommand } from "./cli/demo/demo.ts";
import { EXPORTS_USAGE, exportsCommand, RUNS_USAGE, runsCommand } from "./cli/lists.ts";
import { RUN_USAGE, runCommand } from "./cli/run.ts";
import { RUN_CONTROL_USAGE, runControlCommands } from "./cli/run-control.ts";
import { withCliServices } from "./cli/session.ts";
import { untilSignal } from "./cli/signals.ts";
import { SYSTEMS_USAGE, systemsCommand } from "./cli/systems.ts";
import { startDefaultWorker } from "./cli/worker.ts";
import { startWorkerProcess } from "./cli/worker-process.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { configureExpressionLimits } from "./engine/expressions.ts";
import { createLogger, type Logger } from "./logger.ts";
import { closeRuntime, openRuntime } from "./runtime.ts";

const USAGE = `usage: metasync <command>
  serve [--no-worker]   API (+ a worker in a child process, restarted if it dies)
  worker                a worker only
  migrate               apply pending migrations and exit
  apply <file.yaml>     upsert connected systems, sync rules and schedules by name
  apikey create --role <reader|operator|admin> [--name N] | apikey list | apikey revoke <id>
  ${RUN_USAGE}
  ${DEMO_USAGE}
  ${SYSTEMS_USAGE}
  ${RUNS_USAGE}
  ${EXPORTS_USAGE}
  ${RUN_CONTROL_USAGE}

Exit codes: 0 done (run --wait: the run COMPLETED); 1 what was asked for failed (a run ended
otherwise or was blocked, a connection test or a discovery failed); 2 bad usage or input
(unknown command, option, system, profile or status). \`<command> --help\` shows one command.`;

const HELP = new Set(["--help", "-h", "help"]);

/** `metasync --help`, or `metasync <command> --help`: that command's usage line (stdout, exit 0). */
function help(command: string | undefined, rest: string[]): string | null {
  if (command === undefined || HELP.has(command)) return USAGE;
  if (!rest.some((a) => HELP.has(a))) return null;
  const lines = USAGE.split("\n").filter((l) => /^ {2}\S/.test(l) && l.trim().split(/\s/)[0] === command);
  return lines.length ? `usage: metasync ${lines.map((l) => l.trim()).join("\n       metasync ")}` : null;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // Before the configuration is read: help works on a machine with nothing set up.
  const usage = help(command, rest);
  if (usage) {
    console.log(usage);
    return 0;
  }
  const config = loadConfig();
  const logger = createLogger(config);
  // Every process evaluating expressions (worker, API validating rules, CLI) uses the same bounds.
  if (config.expressionLimits) configureExpressionLimits(config.expressionLimits);
  switch (command) {
    case "serve": {
      const { values } = parseArgs({ args: rest, options: { "no-worker": { type: "boolean", default: false } } });
      return serve(config, logger, { worker: !values["no-worker"] });
    }
    case "worker":
      return worker(config, logger);
    case "run":
      return runCommand(rest, config, logger);
    case "demo":
      return demoCommand(rest, config, logger);
    case "systems":
      return systemsCommand(rest, config, logger);
    case "runs":
      return runsCommand(rest, config, logger);
    case "exports":
      return exportsCommand(rest, config, logger);
    case "migrate": {
      const services = await openRuntime(config, logger, { migrate: true });
      await closeRuntime(services);
      console.log("migrations applied");
      return 0;
    }
    case "apikey":
      return withRuntime(config, logger, (services) => apikeyCommand(services, rest));
    case "apply":
      return withRuntime(config, logger, (services) => applyCommand(services, rest));
    default: {
      const control = command ? runControlCommands[command] : undefined;
      if (control) return withCliServices(config, logger, (services) => control.run(services, rest));
      console.error(`metasync: unknown command "${command}"\n${USAGE}`);
      return 2;
    }
  }
}

async function serve(config: ReturnType<typeof loadConfig>, logger: Logger, options: { worker: boolean }): Promise<number> {
  const services = await openRuntime(config, logger, { migrate: true });
  // Loaded here only: the GraphQL schema and server cost ~1.4 s that other commands need not pay.
  const { buildApp } = await import("./server/app.ts");
  const app = buildApp(services);
  // Listen for the signal before announcing the URL: a SIGTERM right after it must shut down cleanly.
  const signalled = untilSignal();
  try {
    await app.start();
  } catch (e) {
    await closeRuntime(services);
    throw e;
  }
  // Engine work runs in its own process: a heavy or hostile run cannot hold the API's event loop.
  // It reaches the database this server opened (the embedded one included) with the same env.
  const workerProcess = options.worker
    ? startWorkerProcess({ logger, env: { ...process.env, DATABASE_URL: services.db.url } })
    : null;
  await signalled;
  logger.info("shutting down");
  await workerProcess?.stop();
  await app.stop();
  await closeRuntime(services);
  return 0;
}

async function worker(config: ReturnType<typeof loadConfig>, logger: Logger): Promise<number> {
  const services = await openRuntime(config, logger, { migrate: true });
  const handle = await startDefaultWorker(services);
  await untilSignal();
  await handle.stop();
  await closeRuntime(services);
  return 0;
}

/** A one-shot command over the same database (and migrations) as the server. */
async function withRuntime(
  config: ReturnType<typeof loadConfig>,
  logger: Logger,
  command: (services: Awaited<ReturnType<typeof openRuntime>>) => Promise<number>,
): Promise<number> {
  const services = await openRuntime(config, logger, { migrate: true });
  try {
    return await command(services);
  } finally {
    await closeRuntime(services);
  }
}

/** One plain line for the failures a user can fix, then a non-zero exit. */
function explain(e: unknown): string {
  if (e instanceof ConfigError) return e.message;
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  if (err?.code === "EADDRINUSE")
    return `port ${err.port} on ${err.address} is already in use: stop the other process or set PORT (PORT=0 picks a free one)`;
  if (err?.code === "EACCES" && err.syscall === "listen")
    return `not allowed to listen on port ${err.port}: choose PORT above 1024`;
  return err instanceof Error ? err.message : String(e);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`metasync: ${explain(e)}`);
    if (process.env.LOG_LEVEL === "debug") console.error(e);
    process.exit(1);
  },
);
