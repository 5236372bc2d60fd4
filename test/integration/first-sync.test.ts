import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabaseUrl } from "../helpers/database.ts";
import { type Slapd, startSlapd } from "../helpers/slapd.ts";

// README "First sync", followed literally: its fenced commands are taken from the README and run
// by bash, against a real slapd. Only what differs on a test machine is substituted: the LDAP
// port, and the data folder (.data -> a temp dir, with HR_DIR pointing the example there); the
// server uses this test's database instead of starting an embedded one.
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
let slapd: Slapd;
let server: ChildProcess | undefined;
let env: Record<string, string>;
const dataDir = mkdtempSync(path.join(tmpdir(), "metasync-first-sync-"));

/** The ```sh blocks of the README section titled `title`. */
function shellBlocks(title: string): string[] {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README section "${title}"`).toBeGreaterThan(0);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
}

const substitute = (commands: string) =>
  commands.replaceAll(".data/", `${dataDir}/`).replace("LDAP_PORT=389", `LDAP_PORT=${slapd.port}`);

function sh(script: string, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-e", "-x", "-c", script], { cwd: ROOT, env: { ...process.env, ...env } });
    let output = "";
    child.stdout.on("data", (d) => void (output += d));
    child.stderr.on("data", (d) => void (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output });
    });
  });
}

beforeAll(async () => {
  slapd = await startSlapd();
  mkdirSync(path.join(dataDir, "files"));
  env = {
    DATABASE_URL: await createTestDatabaseUrl(),
    DATA_DIR: dataDir,
    METASYNC_FILE_ROOTS: path.join(dataDir, "files"),
    HR_DIR: path.join(dataDir, "files"),
    PORT: "0",
    LOG_LEVEL: "info",
  };
});
afterAll(async () => {
  if (server?.pid && server.exitCode === null) {
    const exited = new Promise((r) => server?.once("exit", r));
    process.kill(-server.pid, "SIGTERM");
    await exited;
  }
  await slapd?.stop();
});

describe("README: First sync", () => {
  it("from npm start to people in LDAP with the README's own commands", async () => {
    const [start, steps, ...rest] = shellBlocks("First sync");
    expect(start?.trim()).toBe("npm start");
    expect(rest).toEqual([]);

    // Its own process group: npm, the server and its worker stop together.
    server = spawn("bash", ["-c", start!], { cwd: ROOT, env: { ...process.env, ...env }, detached: true });
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening on" within 60 s:\n${log}`)), 60_000);
      const onData = (d: Buffer) => {
        log += d;
        if (log.includes("listening on http://")) {
          clearTimeout(timer);
          resolve();
        }
      };
      server?.stdout?.on("data", onData);
      server?.stderr?.on("data", onData);
    });

    const { code, output } = await sh(substitute(steps!), 300_000);
    expect(code, output).toBe(0);
    expect(output).toContain("7 created, 0 updated, 0 unchanged");
    expect(output).toMatch(/run [0-9a-f-]{36} COMPLETED: fetched 5, created 5/);
    // ldapsearch's answer: Ada Lovelace's entry, as the example names and fills it.
    expect(output).toContain("dn: employeeNumber=E1001,ou=people,dc=example,dc=org");
    expect(output).toContain("title: Chief Technology Officer");
    expect(output).toContain("mail: ada.lovelace@example.org");
  }, 400_000);
});
