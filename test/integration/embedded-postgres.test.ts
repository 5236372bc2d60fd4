import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../../src/db/embedded-postgres.ts";

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
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`process ${pid} still alive`);
}

describe("embedded PostgreSQL", () => {
  it("initialises once, lets a second process attach, and recovers after the server is killed", async () => {
    const pgDir = path.join(dir, "pg");
    const first = await startEmbeddedPostgres(pgDir, "app");
    expect(first.owned).toBe(true);
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
