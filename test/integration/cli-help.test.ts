import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";

// No database, no configuration: help must work on a machine where nothing is set up yet.
const env = { DATABASE_URL: undefined, DATA_DIR: "/nonexistent/metasync" };

describe("metasync --help", () => {
  it("prints the commands on stdout and exits 0, as does a command's --help; an unknown command exits 2", async () => {
    // Every process started at once: each spends its time loading modules, none shares anything.
    const commands = ["systems", "runs", "exports", "apply", "demo"];
    const top = runCli(["--help"], env);
    const run = runCli(["run", "--help"], env);
    const ones = commands.map((command) => runCli([command, "--help"], env));
    const bogus = runCli(["frobnicate"], env);

    expect(await top.exit).toBe(0);
    expect(top.output()).toMatch(/^usage: metasync <command>/);
    expect(top.output()).toContain("apply <file.yaml>");

    expect(await run.exit).toBe(0);
    expect(run.output().trim()).toMatch(/^usage: metasync run <system> <profile> \[--wait\] \[--dry-run\]/);

    for (const [i, command] of commands.entries()) {
      const one = ones[i]!;
      expect(await one.exit).toBe(0);
      expect(one.output()).toMatch(new RegExp(`^usage: metasync ${command}`));
    }
    expect(top.output()).toMatch(/Exit codes: 0 .*; 1 .*; 2 /s);
    expect(top.output()).toContain("systems discover <name>...");
    expect(top.output()).toContain("exports [--status S,...]");

    expect(await bogus.exit).toBe(2);
    expect(bogus.output()).toContain('unknown command "frobnicate"');
  });
});
