import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { passwordFile, startEmbeddedPostgres } from "../../src/db/embedded-postgres.ts";
import { sharedBuffersMb } from "../../src/db/embedded-settings.ts";
import { runCli } from "../helpers/cli.ts";

const dir = mkdtempSync(path.join(tmpdir(), "metasync-embedded-"));
// As root PostgreSQL runs as user "postgres", which must be able to enter the directory.
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function query(url: string, sql: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

async function waitForExit(pid: number) {
  for (let i = 0; i < 200; i++) {
    if (!isAlive(pid)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`process ${pid} still alive`);
}

describe.concurrent("embedded PostgreSQL", () => {
  it("initialises once, lets a second process attach, and recovers after the server is killed", async () => {
    const pgDir = path.join(dir, "pg");
    const first = await startEmbeddedPostgres(pgDir, "app");
    expect(first.owned).toBe(true);
    // Its cache is sized to the machine, not PostgreSQL's 128 MB default (see embedded-settings.ts).
    expect(await query(first.url, "SELECT setting::int * 8 / 1024 AS mb FROM pg_settings WHERE name = 'shared_buffers'")).toEqual(
      [{ mb: sharedBuffersMb() }],
    );
    await query(first.url, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)");

    // Another Metasync process on the same DATA_DIR attaches instead of starting a second server.
    const second = await startEmbeddedPostgres(pgDir, "app");
    expect(second.owned).toBe(false);
    expect(second.url).toBe(first.url);

    // kill -9 the postmaster: the lock file stays behind.
    const pid = Number(readFileSync(path.join(pgDir, "postmaster.pid"), "utf8").split("\n")[0]);
    process.kill(pid, "SIGKILL");
    await waitForExit(pid);
    expect(existsSync(path.join(pgDir, "postmaster.pid"))).toBe(true);

    const third = await startEmbeddedPostgres(pgDir, "app");
    expect(third.owned).toBe(true);
    expect(await query(third.url, "SELECT v FROM kept")).toEqual([{ v: 42 }]);
    await third.stop();
    await first.stop();
  });
});

describe.concurrent("embedded PostgreSQL credentials", () => {
  it("uses a random password per data directory, kept in a 0600 file, and the CLI can still attach", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "metasync-embedded-pw-"));
    chmodSync(dataDir, 0o755);
    const pgDir = path.join(dataDir, "pg");
    try {
      const server = await startEmbeddedPostgres(pgDir, "app");
      const file = passwordFile(pgDir);
      const stats = statSync(file);
      expect(stats.mode & 0o777).toBe(0o600);
      expect(stats.uid).toBe(process.getuid?.());
      const password = readFileSync(file, "utf8").trim();
      expect(password).not.toBe("metasync");
      expect(password.length).toBeGreaterThanOrEqual(32);
      expect(decodeURIComponent(new URL(server.url).password)).toBe(password);

      // The old fixed password no longer opens the cluster.
      const port = new URL(server.url).port;
      const old = new pg.Client({ connectionString: `postgresql://postgres:metasync@127.0.0.1:${port}/postgres` });
      await expect(old.connect()).rejects.toMatchObject({ code: "28P01" });
      await old.end().catch(() => {});

      // Another process on the same DATA_DIR (`metasync apikey` while `serve` runs) attaches.
      const attached = await startEmbeddedPostgres(pgDir, "app");
      expect(attached.owned).toBe(false);
      expect(await query(attached.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);

      // A cluster made before the password file existed (fixed password) gets its own on next start.
      await query(server.url, "ALTER ROLE postgres PASSWORD 'metasync'");
      await server.stop();
      rmSync(file);
      const upgraded = await startEmbeddedPostgres(pgDir, "app");
      const rotated = readFileSync(file, "utf8").trim();
      expect(rotated).not.toBe("metasync");
      expect(await query(upgraded.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
      const stale = new pg.Client({
        connectionString: `postgresql://postgres:metasync@127.0.0.1:${new URL(upgraded.url).port}/postgres`,
      });
      await expect(stale.connect()).rejects.toMatchObject({ code: "28P01" });
      await stale.end().catch(() => {});
      await upgraded.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe.concurrent("embedded PostgreSQL after a crash", () => {
  it("a server started after a killed one owns the orphaned cluster: one SIGTERM stops everything", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "metasync-embedded-orphan-"));
    chmodSync(dataDir, 0o755);
    const pgDir = path.join(dataDir, "pg");
    const env = { PORT: "0", DATA_DIR: dataDir, DATABASE_URL: "", LOG_LEVEL: "info" };
    try {
      const crashed = runCli(["serve", "--no-worker"], env);
      await crashed.waitFor(/listening on http:\/\//, 120_000);
      const postmaster = Number(readFileSync(path.join(pgDir, "postmaster.pid"), "utf8").split("\n")[0]);
      crashed.child.kill("SIGKILL");
      await crashed.exit;
      // The cluster outlives the killed server.
      expect(isAlive(postmaster)).toBe(true);

      const next = runCli(["serve", "--no-worker"], env);
      await next.waitFor(/listening on http:\/\//, 120_000);
      next.child.kill("SIGTERM");
      expect(await next.exit).toBe(0);
      await waitForExit(postmaster);
      expect(postgresProcessesFor(pgDir)).toEqual([]);
    } finally {
      for (const pid of postgresProcessesFor(pgDir)) process.kill(pid, "SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
    // Two servers each start (or adopt) a cluster and migrate it: minutes on a loaded machine.
  }, 300_000);
});

/** Present and not a zombie (an orphan's exit may stay unreaped where pid 1 does not reap). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Postmasters whose command line names `pgDir` (as `-D <dir>`). */
function postgresProcessesFor(pgDir: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").includes(pgDir);
      } catch {
        return false;
      }
    })
    .map(Number);
}
