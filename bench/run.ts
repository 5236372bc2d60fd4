// npm run bench [-- --size 2000|10000|100000|1000000] [--phases a,b] [--workers 2] [--subscribers 1000] [--json] [--readme]
// The product-path benchmark (bench/product/run-bench.ts): prints a table and writes
// bench/results.json (a run of chosen --phases writes only to an explicit --out, so a partial run
// never replaces the published results); --json prints the results as JSON on stdout instead of the table;
// --readme also rewrites the README tables from them (as `npm run bench:readme` does).
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PHASES, type PhaseName, printTable, refreshReadme, writeResults } from "./product/results.ts";
import { runProductBench } from "./product/run-bench.ts";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "10000" },
    phases: { type: "string" },
    workers: { type: "string", default: "2" },
    subscribers: { type: "string", default: "1000" },
    json: { type: "boolean", default: false },
    readme: { type: "boolean", default: false },
    out: { type: "string" },
  },
});
const size = Number(values.size);
if (!Number.isInteger(size) || size < 100)
  throw new Error(`--size must be a whole number of people (e.g. 2000, 10000, 100000), not ${values.size}`);
const phases = values.phases?.split(",").map((p) => p.trim()) ?? [];
const unknown = phases.filter((p) => !(PHASES as readonly string[]).includes(p));
if (unknown.length) throw new Error(`unknown phase(s) ${unknown.join(", ")}; phases: ${PHASES.join(", ")}`);

const results = await runProductBench({
  size,
  phases: phases as PhaseName[],
  workers: Number(values.workers),
  subscribers: Number(values.subscribers),
});
const out = values.out ?? (phases.length ? undefined : fileURLToPath(new URL("./results.json", import.meta.url)));
if (out) writeResults(out, results);
if (values.json) console.log(JSON.stringify(results, null, 2));
else printTable(results);
if (values.readme) refreshReadme(results);
console.error(out ? `wrote ${out}` : "a run of chosen phases: results not written (give --out to keep them)");
