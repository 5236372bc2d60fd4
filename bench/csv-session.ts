// The CSV export session alone, at a size: what a worker holds and how long it takes.
//   npm run bench:csv-session -- [--rows 1000000] [--hold 5000]
// - delta: 1,000 updates spread over a file of --rows rows (8 columns, non-ASCII names), one commit;
// - full: --rows CREATEs into a new file in batches of 500, committed when the session says so
//   or every --hold exports (the export run's HOLD_LIMIT), as an export run does.
// Each case runs in a fresh process; peak RSS is its VmHWM, live memory (heap and typed arrays) measured after a GC.
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { ExportChange } from "../src/connectors/connector.ts";
import { CsvConfigSchema } from "../src/connectors/csv/config.ts";
import { CsvExportSession } from "../src/connectors/csv/writer.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    hold: { type: "string", default: "5000" },
    case: { type: "string" },
    file: { type: "string" },
  },
});
const rows = Number(values.rows);
const hold = Number(values.hold);
const COLUMNS = ["uid", "cn", "givenName", "sn", "mail", "department", "title", "employeeType"];
const person = (i: number): string[] => [
  `u${i}`,
  `Zoë Müller-Łukasz ${i}`,
  "Zoë",
  `Müller-Łukasz ${i}`,
  `zoe.mueller${i}@example.org`,
  `Department ${i % 10}`,
  "Senior Engineer",
  "Employee",
];
const peakRssMb = () => Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) / 1024);
/** What is live after a full collection: the JS heap and the memory of typed arrays and buffers. */
const liveMb = () => {
  global.gc?.();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return Math.round((heapUsed + arrayBuffers) / 2 ** 20);
};

if (values.case) {
  const file = values.file!;
  const config = CsvConfigSchema.parse({ path: file, anchor: "uid", objectType: "account", columns: COLUMNS });
  const session = new CsvExportSession(async () => config);
  const change = (i: number, changeType: "CREATE" | "UPDATE", attributes: [string, string][]): ExportChange => ({
    id: `c${i}`,
    objectType: "account",
    changeType,
    anchor: `u${i}`,
    attributes: attributes.map(([attribute, value]) => ({ attribute, operation: "REPLACE", values: [value] })),
  });
  const t0 = performance.now();
  let commits = 0;
  let commitMs = 0;
  const commit = async () => {
    const c0 = performance.now();
    await session.commit();
    commitMs += performance.now() - c0;
    commits++;
  };
  const expectApplied = (results: { status: string }[]) => {
    const failed = results.find((r) => r.status !== "APPLIED");
    if (failed) throw new Error(JSON.stringify(failed));
  };
  if (values.case === "delta") {
    const step = Math.floor(rows / 1000);
    expectApplied(await session.export(Array.from({ length: 1000 }, (_, k) => change(k * step, "UPDATE", [["title", "Lead"]]))));
    await commit();
  } else {
    let held = 0;
    for (let start = 0; start < rows; start += 500) {
      const batch: ExportChange[] = [];
      for (let i = start; i < Math.min(rows, start + 500); i++) {
        const values = person(i);
        batch.push(
          change(
            i,
            "CREATE",
            COLUMNS.slice(1).map((c, k) => [c, values[k + 1]!]),
          ),
        );
      }
      expectApplied(await session.export(batch));
      held += batch.length;
      if (session.commitDue || held >= hold || start + 500 >= rows) {
        await commit();
        held = 0;
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      case: values.case,
      seconds: +seconds.toFixed(1),
      commits,
      commitSeconds: +(commitMs / 1000).toFixed(1),
      peakRssMb: peakRssMb(),
      liveMb: liveMb(),
    }),
  );
} else {
  const dir = mkdtempSync(path.join(tmpdir(), "metasync-csv-session-"));
  try {
    const file = path.join(dir, "accounts.csv");
    const out = createWriteStream(file);
    out.write(`${COLUMNS.join(",")}\n`);
    for (let i = 0; i < rows; i++) if (!out.write(`${person(i).join(",")}\n`)) await once(out, "drain");
    out.end();
    await once(out, "finish");
    for (const [name, target] of [
      ["delta", file],
      ["full", path.join(dir, "new.csv")],
    ] as const) {
      const args = ["--max-old-space-size=1536", "--expose-gc", "--import", "tsx", import.meta.filename];
      const run = spawnSync(
        process.execPath,
        [...args, "--case", name, "--file", target, "--rows", String(rows), "--hold", String(hold)],
        {
          encoding: "utf8",
        },
      );
      if (run.status !== 0) throw new Error(run.stderr);
      console.log({ rows, hold, ...JSON.parse(run.stdout) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
