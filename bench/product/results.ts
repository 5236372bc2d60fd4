// bench/results.json as API.md fixes it ({ size, machine, phases: [{ name, objects, seconds,
// objectsPerSecond, limitName, limitObjectsPerSecond, ratioToLimit, peakRssMb }] }) plus fields
// around it (date, load, per-process memory, notes), the console table, and the README table.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";

/** API.md's phase names, in the order results list them; export_csv is an addition beside them. */
export const PHASES = [
  "full_import",
  "full_sync",
  "export_ldap",
  "export_sql",
  "export_csv",
  "confirming_import",
  "unchanged_reimport",
  "delta_cycle",
  "page_pending_exports",
  "subscription_fanout",
] as const;
export type PhaseName = (typeof PHASES)[number];

export interface PhaseResult {
  name: PhaseName;
  objects: number;
  seconds: number;
  objectsPerSecond: number;
  /** The bare tool the phase is compared with; null where none does the same job (subscription_fanout). */
  limitName: string | null;
  limitObjectsPerSecond: number | null;
  /** ours / limit: 1 would be as fast as the bare tool. */
  ratioToLimit: number | null;
  /** Largest sum of the API's and the workers' resident memory during the phase (PostgreSQL and slapd not included). */
  peakRssMb: number;
  apiPeakRssMb: number;
  workerPeakRssMb: number;
  notes?: string;
  [extra: string]: unknown;
}

export interface BenchResults {
  size: number;
  machine: string;
  date: string;
  /** 1-minute load average when the benchmark started and ended (other work on the machine). */
  loadAverage: { start: number; end: number };
  workers: number;
  phases: PhaseResult[];
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model.trim() ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

export const round = (x: number, digits = 2) => Number(x.toFixed(digits));

/** A phase's record from its measurements and its yardstick's (seconds for the same objects). */
export function phaseResult(
  name: PhaseName,
  objects: number,
  seconds: number,
  memory: { totalMb: number; apiMb: number; workerMb: number },
  limit: { name: string; objects: number; seconds: number } | null,
  extra: Record<string, unknown> = {},
): PhaseResult {
  const rate = objects / seconds;
  const limitRate = limit ? limit.objects / limit.seconds : null;
  return {
    name,
    objects,
    seconds: round(seconds, 3),
    objectsPerSecond: Math.round(rate),
    limitName: limit?.name ?? null,
    limitObjectsPerSecond: limitRate === null ? null : Math.round(limitRate),
    ratioToLimit: limitRate === null ? null : round(rate / limitRate, 3),
    peakRssMb: memory.totalMb,
    apiPeakRssMb: memory.apiMb,
    workerPeakRssMb: memory.workerMb,
    ...extra,
  };
}

export function writeResults(file: string, results: BenchResults) {
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

export function printTable(results: BenchResults, log: (line: string) => void = console.log) {
  log(
    `size ${results.size}, ${results.workers} worker(s), ${results.machine}, load ${results.loadAverage.start} -> ${results.loadAverage.end}`,
  );
  console.table(
    results.phases.map((p) => ({
      phase: p.name,
      objects: p.objects,
      seconds: p.seconds,
      "objects/s": p.objectsPerSecond,
      limit: p.limitName ?? "-",
      "limit/s": p.limitObjectsPerSecond ?? "-",
      ratio: p.ratioToLimit ?? "-",
      "peak RSS MB": p.peakRssMb,
    })),
  );
}

export const README_START = "<!-- bench:table:start -->";
export const README_END = "<!-- bench:table:end -->";

const fmt = (n: number | null) => (n === null ? "-" : n.toLocaleString("en-US"));

/** The README's table between the markers, from a results.json: ours beside the peers' published figures. */
export function readmeTable(r: BenchResults): string {
  const phases = r.phases.map(
    (p) =>
      `| \`${p.name}\` | ${fmt(p.objects)} | ${p.seconds} | ${fmt(p.objectsPerSecond)} | ${p.limitName ?? "-"} ${p.limitObjectsPerSecond === null ? "" : `(${fmt(p.limitObjectsPerSecond)}/s)`} | ${p.ratioToLimit ?? "-"} | ${p.peakRssMb} |`,
  );
  const fanout = r.phases.find((p) => p.name === "subscription_fanout");
  return [
    `Measured ${r.date.slice(0, 10)} with \`npm run bench -- --size ${r.size}\` (${fmt(r.size)} people), ${r.workers} worker process(es), on ${r.machine}; load average ${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end.`,
    ...(r.size < 100_000
      ? ["", `Figures of ${fmt(r.size)} people only: no 100,000-person run has been measured on a quiet machine yet.`]
      : []),
    "",
    "| phase | objects | seconds | objects/s | bare tool, same data | ours / bare | peak RSS MB (API + workers) |",
    "|---|---:|---:|---:|---|---:|---:|",
    ...phases,
    "",
    fanout
      ? `Subscription fan-out: ${fanout.subscribers} graphql-ws subscribers on one run, delivery lag p50 ${fanout.lagP50Ms} ms, p99 ${fanout.lagP99Ms} ms (each run is coalesced to at most ~10 messages/s by design), API peak RSS ${fanout.apiPeakRssMb} MB${fanout.healthzP99Ms === undefined ? "" : `; /healthz meanwhile p50 ${fanout.healthzP50Ms} ms, p99 ${fanout.healthzP99Ms} ms, max ${fanout.healthzMaxMs} ms`}.`
      : "",
    "",
    "Published figures of other identity engines (their hardware and data, not measured here):",
    "",
    "| product | published figure |",
    "|---|---|",
    "| JIM | about 1,100 objects/s import; 9.2 GiB peak memory at 1,000,000 objects |",
    "| Microsoft Entra Connect | delta sync cycle budget of 30 minutes; 16 GB RAM recommended for 100,000 objects |",
    "| Evolveum midPoint | about 120 accounts/s import on two 32-thread nodes |",
  ].join("\n");
}

export const README_SCALE_START = "<!-- bench:scale:start -->";
export const README_SCALE_END = "<!-- bench:scale:end -->";

/** Within this fraction of its rate at the smaller size, a phase scales as the benchmark asks. */
const SCALE_TOLERANCE = 0.2;

/**
 * The README's second table: each phase of a larger run (1,000,000 people) beside the same phase
 * of the main table's run, as the rate ratio, and the API's and the largest worker's peak memory
 * at both sizes. Phases the larger run left out are named, never shown as missing figures.
 */
export function scaleTable(small: BenchResults, large: BenchResults): string {
  const base = new Map(small.phases.map((p) => [p.name, p]));
  const both = large.phases.filter((p) => base.has(p.name) && p.name !== "subscription_fanout");
  const rows = both.map((p) => {
    const b = base.get(p.name)!;
    const ratio = p.objectsPerSecond / b.objectsPerSecond;
    const verdict = ratio >= 1 - SCALE_TOLERANCE ? "" : " (below)";
    return `| \`${p.name}\` | ${fmt(p.objects)} | ${p.seconds} | ${fmt(p.objectsPerSecond)} | ${fmt(b.objectsPerSecond)} | ${round(ratio)}${verdict} | ${p.apiPeakRssMb} / ${p.workerPeakRssMb} | ${b.apiPeakRssMb} / ${b.workerPeakRssMb} |`;
  });
  const left = PHASES.filter((n) => base.has(n) && !both.some((p) => p.name === n));
  return [
    `Measured ${large.date.slice(0, 10)} with \`npm run bench -- --size ${large.size} --out bench/results-${large.size}.json\` (${fmt(large.size)} people), ${large.workers} worker process(es), on ${large.machine}; load average ${large.loadAverage.start} at the start, ${large.loadAverage.end} at the end. Each phase beside the same phase of the ${fmt(small.size)}-person run above; the aim is a rate within ${SCALE_TOLERANCE * 100}% of it (a ratio of at least ${1 - SCALE_TOLERANCE}) and no more memory.`,
    "",
    `| phase | objects | seconds | objects/s | objects/s at ${fmt(small.size)} | ratio | peak RSS MB, API / largest worker | same at ${fmt(small.size)} |`,
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    ...(left.length ? ["", `Not run at ${fmt(large.size)}: ${left.map((n) => `\`${n}\``).join(", ")}.`] : []),
  ].join("\n");
}

/** Replaces the text between two marker comments of a README. */
function replaceBetween(text: string, file: string, startMarker: string, endMarker: string, body: string): string {
  const start = text.indexOf(startMarker);
  const end = text.indexOf(endMarker);
  if (start < 0 || end < start) throw new Error(`${file} has no ${startMarker} ... ${endMarker} markers`);
  return `${text.slice(0, start + startMarker.length)}\n${body}\n${text.slice(end)}`;
}

/** Rewrites the README's benchmark table from `results`, and its scale table when a larger run is given. */
export function updateReadme(readmeFile: string, results: BenchResults, large?: BenchResults) {
  let text = replaceBetween(readFileSync(readmeFile, "utf8"), readmeFile, README_START, README_END, readmeTable(results));
  if (large) text = replaceBetween(text, readmeFile, README_SCALE_START, README_SCALE_END, scaleTable(results, large));
  writeFileSync(readmeFile, text);
}

export const README_FILE = fileURLToPath(new URL("../../README.md", import.meta.url));
/** Where the run at 1,000,000 people is kept (`npm run bench -- --size 1000000 --out <this>`). */
export const LARGE_RESULTS_FILE = fileURLToPath(new URL("../results-1000000.json", import.meta.url));

export const readResults = (file: string) => JSON.parse(readFileSync(file, "utf8")) as BenchResults;

/**
 * Rewrites README.md's tables from `results`, with the scale table against the larger run kept
 * in `largeFile` when there is one: both tables change together, so the scale table's column of
 * the main run is never an older run's.
 */
export function refreshReadme(results: BenchResults, largeFile = LARGE_RESULTS_FILE): BenchResults | undefined {
  const large = existsSync(largeFile) ? readResults(largeFile) : undefined;
  updateReadme(README_FILE, results, large);
  return large;
}
