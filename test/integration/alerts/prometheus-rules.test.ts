import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createMetrics } from "../../../src/server/metrics.ts";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";

const RULES_FILE = new URL("../../../examples/prometheus/metasync-alerts.yml", import.meta.url);

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(async () => {
  await closeTestServices(services);
});

/** The series names a scrape of this server can contain (a histogram's _bucket, _sum and _count included). */
async function exportedSeries(): Promise<Set<string>> {
  const text = await createMetrics(services).registry.metrics();
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${name}${suffix}`);
  }
  return names;
}

describe("examples/prometheus/metasync-alerts.yml", () => {
  it("is a valid rule file whose every expression uses metrics the server exports", async () => {
    const doc = parse(readFileSync(RULES_FILE, "utf8")) as { groups: { name: string; rules: Rule[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(8);
    const series = await exportedSeries();
    expect(series).toContain("metasync_alert_deliveries");
    const names = new Set<string>();
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Metasync[A-Za-z]+$/);
      expect(rule.labels.severity, rule.alert).toMatch(/^(critical|warning|info)$/);
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
      if (rule.for) expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
      expect(names.has(rule.alert), `duplicate ${rule.alert}`).toBe(false);
      names.add(rule.alert);
      const used = [...rule.expr.matchAll(/\bmetasync_[a-z_]+/g)].map((m) => m[0]);
      // Every rule watches the product, except the scrape-health one Prometheus computes itself (up).
      if (!used.length) expect(rule.expr, rule.alert).toMatch(/^up\{job="metasync"\}/);
      for (const metric of used) expect(series, `${rule.alert} uses ${metric}`).toContain(metric);
    }
  });
});
