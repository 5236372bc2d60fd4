import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWatchers, type Watchers } from "../../../src/jobs/watchers/supervisor.ts";
import { waitFor } from "../../fixtures/runs.ts";
import { type ExampleHarness, startExample } from "../../helpers/examples.ts";
import { applyHrToLdap, hrPersonDn, hrToLdapCycle, ldapEntry } from "../../helpers/hr-to-ldap.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// A CSV source watched on disk: rows added, changed and removed in people.csv reach a real slapd
// through the inbox, REALTIME and EXPORT runs, with no run started by the test. The systems are
// examples/hr-csv-to-ldap.yaml's. The watchers are started here (as startWorker starts them) so
// the test can stop one, as a worker that dies would, and start another.
let slapd: Slapd;
let h: ExampleHarness;
let first: Watchers;
let second: Watchers | undefined;
let people: string;

beforeAll(async () => {
  slapd = await startSlapd();
  h = await startExample("hr", { watchers: false });
  people = path.join(h.files, "people.csv");
  await applyHrToLdap(h, slapd);
  await hrToLdapCycle(h);
  const system = await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "hr-people" } });
  const settings = await h.services.systems.currentSettings(system);
  await h.services.systems.update(system.id, {
    name: system.name,
    kind: system.kind,
    config: settings.config,
    realtime: { enabled: true, watch: true, windowMs: 10, pollIntervalMs: 500 },
  });
});
afterAll(async () => {
  await second?.stop();
  await first?.stop();
  await h?.stop();
  await slapd?.stop();
});

const person = hrPersonDn;
const entry = (id: string) => ldapEntry(slapd, person(id));

const row = (id: string, title: string) => `${id},Mary,Jackson,${title},Engineering,E1001,mary.jackson.${id}@example.org\n`;
const manualRuns = () => h.services.db.prisma.run.count({ where: { trigger: { not: "REALTIME" } } });

describe("CSV watcher", () => {
  it("pushes rows added, changed and removed in the file until they reach the directory", async () => {
    const runsBefore = await manualRuns();
    first = startWatchers(h.services, { reconcileMs: 500 });
    await waitFor(async () => first.watching().length === 1);

    appendFileSync(people, row("E1006", "Engineer"));
    expect(await waitFor(() => entry("E1006"), 30_000, 100)).toMatchObject({ title: "Engineer", manager: person("E1001") });

    writeFileSync(people, readFileSync(people, "utf8").replace(row("E1006", "Engineer"), row("E1006", "Lead Engineer")));
    await waitFor(async () => (await entry("E1006"))?.title === "Lead Engineer", 30_000, 100);

    writeFileSync(people, readFileSync(people, "utf8").replace(row("E1006", "Lead Engineer"), ""));
    await waitFor(async () => (await entry("E1006")) === null, 30_000, 100);

    // Only REALTIME and EXPORT runs did it, started by the workers, none by hand.
    expect(await manualRuns()).toBe(runsBefore);
    const runs = await h.services.db.prisma.run.findMany({ where: { trigger: "REALTIME" }, select: { profile: true } });
    expect(new Set(runs.map((r) => r.profile))).toEqual(new Set(["REALTIME", "EXPORT"]));
  });

  it("is watched by one worker only; another takes over and pushes what changed while none watched", async () => {
    second = startWatchers(h.services, { reconcileMs: 500 });
    await second.reconcile();
    expect(second.watching()).toEqual([]); // the first holds the system's lock

    await first.stop(); // as a worker that dies: its lock goes with its connection
    appendFileSync(people, row("E1008", "Analyst"));
    await waitFor(async () => second!.watching().length === 1, 10_000);
    expect(await waitFor(() => entry("E1008"), 30_000, 100)).toMatchObject({ title: "Analyst" });
    // Nothing else was pushed again: the people already stored were compared, not re-sent.
    const pushed = await h.services.db.prisma.inboxEntry.findMany({ select: { anchor: true } });
    expect(new Set(pushed.map((e) => e.anchor))).toEqual(new Set(["E1006", "E1008"]));
  });
});
