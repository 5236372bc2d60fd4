// npm run bench:readme [-- --results bench/results.json]: rewrites README.md's benchmark table
// (between its marker comments) from a results file written by `npm run bench`.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BenchResults, updateReadme } from "./product/results.ts";

const { values } = parseArgs({
  options: { results: { type: "string", default: fileURLToPath(new URL("./results.json", import.meta.url)) } },
});
const results = JSON.parse(readFileSync(values.results, "utf8")) as BenchResults;
updateReadme(fileURLToPath(new URL("../README.md", import.meta.url)), results);
console.log(`README.md: table of ${results.size} people, measured ${results.date}`);
