import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createTestDatabaseUrl } from "../helpers/database.ts";

// examples/systemd/metasync.service: systemd accepts it, and its ExecStart (with the checkout's
// path and this machine's node) serves and stops on the unit's KillSignal with exit 0.
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const UNIT = path.join(ROOT, "examples/systemd/metasync.service");
const text = readFileSync(UNIT, "utf8");
const settings = (key: string) =>
  text
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
const analyzer = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find(existsSync);

describe("examples/systemd/metasync.service", () => {
  it.skipIf(!analyzer || !existsSync("/usr/bin/node"))("passes systemd-analyze verify", () => {
    // Throws (exit 1) on unknown settings or an ExecStart program that is not there.
    execFileSync(analyzer!, ["verify", UNIT], { stdio: "pipe" });
  });

  it("ExecStart runs `metasync serve` under the unit's environment and stops cleanly on SIGTERM", async () => {
    const [exec] = settings("ExecStart");
    const [node, ...args] = exec!.split(/\s+/);
    expect(node).toBe("/usr/bin/node");
    expect(args.at(-1)).toBe("serve");
    expect(settings("KillSignal")).toEqual(["SIGTERM"]);
    const dir = settings("WorkingDirectory")[0]!;
    const localArgs = args.map((a) => a.replace(dir, ROOT.replace(/\/$/, "")));
    expect(existsSync(localArgs.at(-2)!)).toBe(true);
    const unitEnv = Object.fromEntries(settings("Environment").map((e) => e.split(/=(.*)/s).slice(0, 2)));
    expect(unitEnv).toMatchObject({ NODE_ENV: "production", DATA_DIR: "/var/lib/metasync" });
    const child = spawn(process.execPath, localArgs, {
      cwd: ROOT,
      env: {
        ...process.env,
        ...unitEnv,
        PORT: "0",
        DATA_DIR: mkdtempSync(path.join(tmpdir(), "metasync-unit-")),
        DATABASE_URL: await createTestDatabaseUrl(),
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const exit = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const base = await new Promise<string>((resolve, reject) => {
      const onData = (d: Buffer) => {
        out += d;
        const m = out.match(/listening on (http:\/\/[\d.]+:\d+)/);
        if (m) resolve(m[1]!);
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      void exit.then((code) => reject(new Error(`exited ${code}:\n${out}`)));
    });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    child.kill("SIGTERM");
    expect(await exit).toBe(0);
  }, 60_000);
});
