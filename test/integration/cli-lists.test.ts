import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../src/services.ts";
import { createReadySystem, okFactory } from "../fixtures/runs.ts";
import { BIN, runCli } from "../helpers/cli.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";

// metasync systems / runs / exports as real processes on a real database: a table on a real
// pseudo-terminal (util-linux `script`), tab-separated values when piped, JSON with --json.
let services: Services;
let env: Record<string, string>;
let runId: string;
const BOLD = "\u001b[1m";

beforeAll(async () => {
  services = await createTestServices({}, { connectorFactory: okFactory });
  env = { DATABASE_URL: services.db.url, DATA_DIR: mkdtempSync(path.join(tmpdir(), "metasync-lists-")), LOG_LEVEL: "silent" };
  const hr = await createReadySystem(services, "hr-lists", { path: "/data/missing-hr-lists.csv" });
  // No worker here: the accepted run stays QUEUED.
  runId = (await services.startGate.start({ connectedSystemId: hr.id, profile: "FULL_IMPORT", trigger: "MANUAL" })).run.id;
  await services.db.prisma.pendingExport.create({
    data: {
      connectedSystemId: hr.id,
      changeType: "CREATE",
      status: "AWAITING_APPROVAL",
      approvalReason: "over the delete threshold",
      attributeChanges: [{ attribute: "cn", operation: "REPLACE", values: ["Ada"], status: "PENDING" }],
    },
  });
});
afterAll(() => closeTestServices(services));

/** `metasync <args>` on a pseudo-terminal: stdout.isTTY is true in the CLI, as in a user's shell. */
function onTty(args: string[]): Promise<{ code: number; output: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(" ");
  return new Promise((resolve) => {
    const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], {
      env: { ...process.env, ...env, COLUMNS: "200" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => void (output += d));
    child.on("exit", (code) => resolve({ code: code ?? 1, output: output.replaceAll("\r\n", "\n") }));
  });
}
const piped = async (args: string[]) => {
  const cli = runCli(args, env);
  return { code: await cli.exit, output: cli.output() };
};

describe.concurrent("metasync systems, runs, exports", () => {
  it("runs: a table with a bold header on a terminal, TSV when piped, JSON with --json", async () => {
    const [tty, pipe, json] = await Promise.all([onTty(["runs"]), piped(["runs"]), piped(["runs", "--json"])]);
    expect(tty.code).toBe(0);
    expect(tty.output).toContain(`${BOLD}ID  `);
    expect(tty.output).toMatch(/ID\s+SYSTEM\s+PROFILE\s+STATUS/);
    expect(tty.output).toMatch(new RegExp(`${runId}  hr-lists  FULL_IMPORT  QUEUED `));
    expect(pipe.code).toBe(0);
    const lines = pipe.output.trimEnd().split("\n");
    expect(lines[0]).toBe("ID\tSYSTEM\tPROFILE\tSTATUS\tCREATED\tFETCHED\tCREATED\tUPDATED\tDELETED\tFAILED\tEXPORTS\tREASON");
    expect(lines[1]?.split("\t").slice(0, 4)).toEqual([runId, "hr-lists", "FULL_IMPORT", "QUEUED"]);
    expect(pipe.output).not.toContain("\u001b[");
    expect(JSON.parse(json.output)).toMatchObject([{ id: runId, system: "hr-lists", status: "QUEUED", counts: { fetched: 0 } }]);
  });

  it("exports --status filters; systems list shows schema, rules and open exports", async () => {
    const [held, none, systems] = await Promise.all([
      piped(["exports", "--status", "awaiting_approval", "--json"]),
      onTty(["exports", "--status", "FAILED"]),
      onTty(["systems"]),
    ]);
    expect(JSON.parse(held.output)).toMatchObject([
      { system: "hr-lists", changeType: "CREATE", status: "AWAITING_APPROVAL", approvalReason: "over the delete threshold" },
    ]);
    expect(none.output.trim()).toBe("no pending exports");
    expect(systems.output).toContain(`${BOLD}NAME  `);
    expect(systems.output).toMatch(/NAME\s+KIND\s+SCHEMA\s+RULES IN\/OUT\s+OBJECTS\s+OPEN EXPORTS\s+LAST RUN/);
    expect(systems.output).toMatch(/hr-lists\s+CSV\s+person\s+1\/1\s+0\s+1\s+FULL_IMPORT QUEUED /);
  });

  it("exit codes: 1 when a connection test fails, 2 for an unknown status or system", async () => {
    const [test, badStatus, noSystem] = await Promise.all([
      piped(["systems", "test", "hr-lists"]),
      piped(["runs", "--status", "DONE"]),
      piped(["exports", "--system", "nowhere"]),
    ]);
    expect(test.code).toBe(1);
    expect(test.output).toMatch(/^hr-lists: failed \(\w+\): /m);
    expect(badStatus.code).toBe(2);
    expect(badStatus.output).toContain('unknown status "DONE"');
    expect(noSystem.code).toBe(2);
    expect(noSystem.output).toContain('connected system "nowhere" was not found (NOT_FOUND)');
  });
});
