// npm run bench:readme [-- --results bench/results.json] [--large bench/results-1000000.json]:
// rewrites README.md's benchmark table (between its marker comments) from a results file written
// by `npm run bench`, and its scale table from a run at a larger size (kept under its own name:
// `npm run bench -- --size 1000000 --out bench/results-1000000.json`) when that file exists.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LARGE_RESULTS_FILE, readResults, refreshReadme } from "./product/results.ts";

const { values } = parseArgs({
  options: {
    results: { type: "string", default: fileURLToPath(new URL("./results.json", import.meta.url)) },
    large: { type: "string", default: LARGE_RESULTS_FILE },
  },
});
const results = readResults(values.results);
const large = refreshReadme(results, values.large);
console.log(
  `README.md: table of ${results.size} people, measured ${results.date}${large ? `; scale table of ${large.size}, measured ${large.date}` : ""}`,
);
