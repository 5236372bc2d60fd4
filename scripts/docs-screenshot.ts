// `npm run docs:screenshot`: the README's demo screenshots, taken from a real `metasync demo`
// (embedded PostgreSQL in a fresh temporary DATA_DIR, --people 2000 unless PEOPLE is set) with the
// headless Chromium the dashboard tests use. Writes docs/demo-dashboard.png and docs/demo-object.png
// and prints how long the demo's cycle took.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../test/helpers/browser.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const people = process.env.PEOPLE ?? "2000";
const dataDir = mkdtempSync(path.join(tmpdir(), "metasync-screenshot-"));
// Run as root, the embedded PostgreSQL runs as user postgres, which must enter the directory.
chmodSync(dataDir, 0o755);
const { DATABASE_URL: _db, METASYNC_FILE_ROOTS: _roots, ...env } = process.env;
const demo = spawn(process.execPath, [path.join(ROOT, "bin/metasync.mjs"), "demo", "--people", people], {
  env: { ...env, DATA_DIR: dataDir, PORT: "0", LOG_LEVEL: "warn" },
  stdio: ["ignore", "pipe", "inherit"],
});
const exited = new Promise<number | null>((resolve) => demo.on("exit", (code) => resolve(code)));

let output = "";
demo.stdout.on("data", (d: Buffer) => {
  process.stdout.write(d);
  output += d;
});
const waitFor = (pattern: RegExp, ms: number) =>
  new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}:\n${output}`)), ms);
    const check = () => {
      const m = output.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    check();
    demo.stdout.on("data", () => check());
    void exited.then((code) => reject(new Error(`metasync demo exited ${code}:\n${output}`)));
  });

try {
  const [done, url] = await Promise.all([
    waitFor(/demo cycle done in ([\d.]+) s/, 600_000),
    waitFor(/Dashboard: (http:\/\/[\d.]+:\d+)/, 120_000).then((m) => m[1]!),
  ]);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/`);
    await page.waitFor(`document.querySelectorAll("#run-chart circle[data-run-id]").length >= 6`, "the chart", 30_000);
    await page.screenshot(path.join(ROOT, "docs/demo-dashboard.png"));
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: `{ metaverseObjects(where: { attribute: "status", equals: "leaver" }, first: 1) { edges { node { id } } } }`,
      }),
    });
    const body = (await res.json()) as { data: { metaverseObjects: { edges: { node: { id: string } }[] } } };
    const leaver = body.data.metaverseObjects.edges[0]!.node.id;
    await page.goto(`${url}/#/objects/${encodeURIComponent(leaver)}`);
    await page.waitFor(`document.querySelector("#provisioning tr[data-rule]")`, "the provisioning table", 30_000);
    await page.screenshot(path.join(ROOT, "docs/demo-object.png"));
  } finally {
    await browser.close();
  }
  console.log(`\n${people} people: the demo's cycle took ${done[1]} s; wrote docs/demo-dashboard.png and docs/demo-object.png`);
} finally {
  demo.kill("SIGTERM");
  await exited;
  rmSync(dataDir, { recursive: true, force: true });
}
