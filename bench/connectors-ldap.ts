/**
 * LDAP connector throughput against a private local slapd (no overlays, dbnosync):
 *   npx tsx bench/connectors-ldap.ts [entries=20000]
 * 1. raw `ldapadd` of an LDIF of N inetOrgPerson entries (the yardstick),
 * 2. the connector's export CREATE of the same N entries (fresh server; concurrency 8; 1 and 2 connections),
 * 3. the connector's paged importFull of the N entries; peak RSS of this process.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { ExportChange } from "../src/connectors/connector.ts";
import { createConnector } from "../src/connectors/index.ts";
import { createLogger } from "../src/logger.ts";
import { startSlapd } from "../test/helpers/slapd.ts";

const N = Number(process.argv[2] ?? 20000);
const BATCH = 1000;
const logger = createLogger({ logLevel: "silent" });
const context = { storedHashes: async () => new Map<string, string>(), async *storedAnchors() {} };
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);

const person = (i: number) => ({
  uid: `bench${i}`,
  cn: `Bench User ${i}`,
  sn: `User${i}`,
  givenName: "Bench",
  mail: `bench${i}@example.org`,
  title: i % 3 === 0 ? "Engineer" : "Analyst",
  telephoneNumber: `+44 20 7946 ${String(i % 10000).padStart(4, "0")}`,
});

async function ldapaddRate(): Promise<number> {
  const ldap = await startSlapd();
  try {
    const ldif = Array.from({ length: N }, (_, i) => {
      const p = person(i);
      return [
        `dn: uid=${p.uid},ou=people,${ldap.baseDn}`,
        "objectClass: inetOrgPerson",
        ...Object.entries(p).map(([k, v]) => `${k}: ${v}`),
      ].join("\n");
    }).join("\n\n");
    const file = path.join(ldap.dir, "bench.ldif");
    writeFileSync(file, `${ldif}\n`);
    const t0 = performance.now();
    const r = spawnSync("ldapadd", ["-x", "-H", ldap.url, "-D", ldap.bindDn, "-w", ldap.password, "-f", file], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const s = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`ldapadd failed: ${r.stderr}`);
    return N / s;
  } finally {
    await ldap.stop();
  }
}

async function connectorRun(connections: number, concurrency: number, withImport: boolean, overlays: "syncprov"[] = []) {
  const ldap = await startSlapd({ overlays });
  const c = await createConnector(
    "LDAP",
    {
      url: ldap.url,
      bindDn: ldap.bindDn,
      bindPassword: ldap.password,
      baseDn: ldap.baseDn,
      connections,
      concurrency,
      pageSize: 1000,
    },
    { logger },
  );
  try {
    await c.testConnection();
    const t0 = performance.now();
    for (let start = 0; start < N; start += BATCH) {
      const changes: ExportChange[] = [];
      for (let i = start; i < Math.min(N, start + BATCH); i++) {
        const p = person(i);
        changes.push({
          id: String(i),
          changeType: "CREATE",
          objectType: "person",
          dn: `uid=${p.uid},ou=people,${ldap.baseDn}`,
          attributes: Object.entries(p).map(([attribute, v]) => ({ attribute, operation: "ADD" as const, values: [v] })),
        });
      }
      const results = await c.export(changes);
      const bad = results.find((r) => r.status !== "APPLIED" || !r.anchor);
      if (bad) throw new Error(`export failed: ${JSON.stringify(bad)}`);
    }
    const exportRate = N / ((performance.now() - t0) / 1000);
    if (!withImport) return { exportRate };
    const rssBefore = process.memoryUsage().rss;
    peakRss = rssBefore;
    const t1 = performance.now();
    let count = 0;
    let pages = 0;
    for await (const page of c.importFull(null, context)) {
      count += page.objects.length;
      pages++;
    }
    const importRate = count / ((performance.now() - t1) / 1000);
    if (count !== N) throw new Error(`imported ${count} of ${N}`);
    return { exportRate, importRate, pages, rssBeforeMb: rssBefore / 2 ** 20, peakRssMb: peakRss / 2 ** 20 };
  } finally {
    await c.close();
    await ldap.stop();
  }
}

const ldapadd = await ldapaddRate();
const one = await connectorRun(1, 8, true);
const two = await connectorRun(2, 8, false);
const one16 = await connectorRun(1, 16, false);
// With syncprov the watermark is one read of contextCSN; without it, a scan of every entryCSN.
const synced = await connectorRun(2, 8, true, ["syncprov"]);
clearInterval(sampler);
const f = (n: number) => Math.round(n);
console.log(
  JSON.stringify(
    {
      entries: N,
      ldapaddEntriesPerSec: f(ldapadd),
      exportAddsPerSec: {
        "1 connection x 8": f(one.exportRate),
        "2 connections x 8": f(two.exportRate),
        "1 connection x 16": f(one16.exportRate),
      },
      exportVsLdapadd: {
        "1 connection x 8": Number((one.exportRate / ldapadd).toFixed(2)),
        "2 connections x 8 (default)": Number((two.exportRate / ldapadd).toFixed(2)),
      },
      importEntriesPerSec: f(one.importRate ?? 0),
      importEntriesPerSecWithSyncprov: f(synced.importRate ?? 0),
      importPages: one.pages,
      rssBeforeImportMb: f(one.rssBeforeMb ?? 0),
      peakRssDuringImportMb: f(one.peakRssMb ?? 0),
    },
    null,
    2,
  ),
);
process.exit(0);
