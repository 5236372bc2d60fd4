import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type BenchResults, type PhaseResult, scaleTable, updateReadme } from "../../bench/product/results.ts";

const phase = (name: PhaseResult["name"], objectsPerSecond: number, api: number, worker: number): PhaseResult => ({
  name,
  objects: objectsPerSecond * 10,
  seconds: 10,
  objectsPerSecond,
  limitName: null,
  limitObjectsPerSecond: null,
  ratioToLimit: null,
  peakRssMb: api + worker,
  apiPeakRssMb: api,
  workerPeakRssMb: worker,
});
const run = (size: number, phases: PhaseResult[]): BenchResults => ({
  size,
  machine: "2 x test cpu",
  date: "2026-12-07T07:00:00.000Z",
  loadAverage: { start: 0.5, end: 3 },
  workers: 2,
  phases,
});

const small = run(100_000, [
  phase("full_import", 20_000, 280, 380),
  phase("full_sync", 2_000, 260, 400),
  phase("export_ldap", 1_800, 280, 250),
]);

describe("bench README scale table (1,000,000 beside 100,000)", () => {
  it("gives each phase's rate ratio, marks one more than 20% slower, and names the phases not run", () => {
    const large = run(1_000_000, [phase("full_import", 32_000, 283, 455), phase("full_sync", 1_500, 290, 470)]);
    const table = scaleTable(small, large);
    const rows = table.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows).toEqual([
      "| `full_import` | 320,000 | 10 | 32,000 | 20,000 | 1.6 | 283 / 455 | 280 / 380 |",
      "| `full_sync` | 15,000 | 10 | 1,500 | 2,000 | 0.75 (below) | 290 / 470 | 260 / 400 |",
    ]);
    expect(table).toContain("Not run at 1,000,000: `export_ldap`.");
    expect(table).toContain("`npm run bench -- --size 1000000 --out bench/results-1000000.json`");
  });

  it("rewrites only the text between the scale markers, and leaves the README alone without a larger run", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "bench-readme-"));
    const readme = path.join(dir, "README.md");
    const body = [
      "intro",
      "<!-- bench:table:start -->",
      "old table",
      "<!-- bench:table:end -->",
      "between",
      "<!-- bench:scale:start -->",
      "old scale",
      "<!-- bench:scale:end -->",
      "outro",
    ].join("\n");
    writeFileSync(readme, body);
    updateReadme(readme, small);
    const once = readFileSync(readme, "utf8");
    expect(once).toContain("old scale");
    expect(once).not.toContain("old table");
    updateReadme(readme, small, run(1_000_000, [phase("full_import", 32_000, 283, 455)]));
    const twice = readFileSync(readme, "utf8");
    expect(twice).not.toContain("old scale");
    expect(twice).toContain("| `full_import` | 320,000 |");
    expect(twice.startsWith("intro\n")).toBe(true);
    expect(twice).toContain("\nbetween\n");
    expect(twice.endsWith("outro")).toBe(true);
  });
});
