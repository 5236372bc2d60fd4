import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { createTestDatabaseUrl } from "../helpers/database.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";
import { person, sourceSystem } from "../helpers/sync-fixtures.ts";

// Each test starts its own process on its own database (or none): they run side by side, as most
// of their time is a process loading its modules.
describe.concurrent("metasync serve", () => {
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

  it("runs engine work in a worker process: /healthz answers during a hostile run and SIGTERM stops both", async () => {
    const secretKey = randomBytes(32).toString("hex");
    const services = await createTestServices({ secretKey });
    let run: ReturnType<typeof runCli> | undefined;
    try {
      // A full sync whose scope recurses until its time bound, for every object.
      const hr = await sourceSystem(
        services,
        "hr",
        ["E1", "E2"].map((id) => person(id, { givenName: id })),
        { projectToMetaverse: true, scope: "( $f := function($x){ $f($x) }; $f(1) )", attributeFlows: [] },
      );
      await hr.run("FULL_IMPORT");
      await services.db.prisma.objectType.create({ data: { connectedSystemId: hr.id, name: "person" } });

      run = runCli(["serve"], {
        PORT: "0",
        DATABASE_URL: services.config.databaseUrl,
        DATA_DIR: mkdtempSync(path.join(tmpdir(), "metasync-serve-")),
        METASYNC_SECRET_KEY: secretKey,
        METASYNC_EXPRESSION_TIMEOUT_MS: "1200",
      });
      const base = (await run.waitFor(/listening on/, 60_000)).match(/listening on (http:\/\/[\d.]+:\d+)/)?.[1];

      const started = await fetch(`${base}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          query: `mutation { startRun(input: { connectedSystemId: "${hr.id}", profile: FULL_SYNC }) { outcome run { id } } }`,
        }),
      }).then((r) => r.json());
      expect(started.data.startRun.outcome).toBe("ACCEPTED");
      const runId = Buffer.from(started.data.startRun.run.id, "base64").toString().replace(/^Run:/, "");
      let row = await services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
      while (!row.workerId) {
        await new Promise((r) => setTimeout(r, 50));
        row = await services.db.prisma.run.findUniqueOrThrow({ where: { id: runId } });
      }
      // The run is in another process, which holds its event loop for a time bound at a time; the API's is free.
      const workerPid = Number(row.workerId?.split("-")[0]);
      expect(workerPid).not.toBe(run.child.pid);
      const serve = run;
      expect(serve.output()).toContain(`worker process started (pid ${workerPid})`);
      for (let i = 0; i < 3; i++) {
        // Generous: this machine may be busy; the worker's pid above is what shows the separation.
        const health = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(10_000) });
        expect(health.status).toBe(200);
      }

      // A worker that dies is replaced; SIGTERM of the server stops the replacement too.
      process.kill(workerPid, "SIGKILL");
      const restarted = await serve.waitFor(new RegExp(`worker process started \\(pid (?!${workerPid}\\))\\d+\\)`), 60_000);
      const nextPid = Number(restarted.match(/pid (\d+)\)/)?.[1]);
      serve.child.kill("SIGTERM");
      expect(await serve.exit).toBe(0);
      expect(() => process.kill(workerPid, 0)).toThrow();
      expect(() => process.kill(nextPid, 0)).toThrow();
    } finally {
      if (run?.child.exitCode === null) run.child.kill("SIGKILL");
      await closeTestServices(services);
    }
  }, 180_000);
});
