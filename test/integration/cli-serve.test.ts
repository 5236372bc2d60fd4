import net from "node:net";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { createTestDatabaseUrl } from "../helpers/database.ts";

describe("metasync serve", () => {
  it("exits 1 with one line naming an invalid variable", async () => {
    const run = runCli(["serve"], { PORT: "abc" });
    expect(await run.exit).toBe(1);
    const lines = run.output().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/PORT/);
  });

  it("serves on PORT=0, logs the URL, answers /healthz and stops on SIGTERM", async () => {
    const url = await createTestDatabaseUrl();
    const run = runCli(["serve", "--no-worker"], { PORT: "0", DATABASE_URL: url });
    const line = await run.waitFor(/listening on http:\/\//);
    const base = line.match(/listening on (http:\/\/[\d.]+:\d+)/)?.[1];
    expect(base).toBeDefined();
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    run.child.kill("SIGTERM");
    expect(await run.exit).toBe(0);
  });

  it("says plainly when the port is taken", async () => {
    const url = await createTestDatabaseUrl();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const run = runCli(["serve", "--no-worker"], { PORT: String(port), DATABASE_URL: url });
      expect(await run.exit).not.toBe(0);
      expect(run.output()).toMatch(new RegExp(`port ${port} .*already in use`));
    } finally {
      blocker.close();
    }
  });

  it("says plainly when DATABASE_URL is unreachable", async () => {
    const run = runCli(["migrate"], { DATABASE_URL: "postgresql://u:p@127.0.0.1:1/none" });
    expect(await run.exit).toBe(1);
    expect(run.output()).toMatch(/cannot reach the database at postgresql:\/\/127\.0\.0\.1:1\/none/);
    expect(run.output()).not.toContain("u:p@");
  });
});
