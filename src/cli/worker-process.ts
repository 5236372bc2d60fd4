import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "../logger.ts";

const BIN = fileURLToPath(new URL("../../bin/metasync.mjs", import.meta.url));

export interface WorkerProcess {
  /** The running worker's process id (undefined between a death and its restart). */
  readonly pid: number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`: runs in progress go back to the queue either way. */
  stop(): Promise<void>;
}

export interface WorkerProcessOptions {
  logger: Logger;
  /** The child's environment: the server's own, with the database it opened. */
  env: NodeJS.ProcessEnv;
  /** How long a stopping worker may take to reach its batch boundary. */
  graceMs?: number;
}

const FIRST_RESTART_MS = 1_000;
const MAX_RESTART_MS = 30_000;
/** A worker that ran this long before dying is restarted at once (backoff starts over). */
const HEALTHY_AFTER_MS = 60_000;

/**
 * `metasync serve`'s worker as a child process (`metasync worker`): engine work never shares the
 * API's event loop, so no run, however heavy, can keep /healthz or GraphQL from answering. Restarted
 * with backoff when it dies; it also stops by itself when this process dies (its IPC channel closes).
 */
export function startWorkerProcess({ logger, env, graceMs = 20_000 }: WorkerProcessOptions): WorkerProcess {
  const log = logger.child({ component: "worker-process" });
  let child: ChildProcess | null = null;
  let stopping = false;
  let restartDelay = FIRST_RESTART_MS;
  let restartTimer: NodeJS.Timeout | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = () => {
    const startedAt = Date.now();
    const proc = spawn(process.execPath, [...process.execArgv, BIN, "worker"], {
      env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child = proc;
    exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    log.info({ pid: proc.pid }, `worker process started (pid ${proc.pid})`);
    proc.once("exit", (code, signal) => {
      child = null;
      if (stopping) return;
      restartDelay = Date.now() - startedAt > HEALTHY_AFTER_MS ? FIRST_RESTART_MS : restartDelay;
      log.warn({ pid: proc.pid, code, signal, restartInMs: restartDelay }, "worker process exited; restarting");
      restartTimer = setTimeout(launch, restartDelay);
      restartDelay = Math.min(restartDelay * 2, MAX_RESTART_MS);
    });
    proc.on("error", (err) => log.error({ err }, "worker process error"));
  };
  launch();

  return {
    get pid() {
      return child?.pid;
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      const proc = child;
      if (!proc) return;
      proc.kill("SIGTERM");
      const killer = setTimeout(() => {
        log.warn({ pid: proc.pid }, "worker process did not stop in time; killing it");
        proc.kill("SIGKILL");
      }, graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}
