import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";

// No database, no configuration: help must work on a machine where nothing is set up yet.
const env = { DATABASE_URL: undefined, DATA_DIR: "/nonexistent/metasync" };

describe("metasync --help", () => {
  it("prints the commands on stdout and exits 0, as does a command's --help; an unknown command exits 2", async () => {
    const top = runCli(["--help"], env);
    expect(await top.exit).toBe(0);
    expect(top.output()).toMatch(/^usage: metasync <command>/);
    expect(top.output()).toContain("apply <file.yaml>");

    const run = runCli(["run", "--help"], env);
    expect(await run.exit).toBe(0);
    expect(run.output().trim()).toMatch(/^usage: metasync run <system> <profile> \[--wait\] \[--dry-run\]/);

    for (const command of ["systems", "runs", "exports", "apply", "demo"]) {
      const one = runCli([command, "--help"], env);
      expect(await one.exit).toBe(0);
      expect(one.output()).toMatch(new RegExp(`^usage: metasync ${command}`));
    }
    expect(top.output()).toMatch(/Exit codes: 0 .*; 1 .*; 2 /s);
    expect(top.output()).toContain("systems discover <name>...");
    expect(top.output()).toContain("exports [--status S,...]");

    const bogus = runCli(["frobnicate"], env);
    expect(await bogus.exit).toBe(2);
    expect(bogus.output()).toContain('unknown command "frobnicate"');
  });
});
