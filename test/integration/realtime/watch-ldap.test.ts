import path from "node:path";
import { Attribute, Change, Client } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWatchers, type Watchers } from "../../../src/jobs/watchers/supervisor.ts";
import { waitFor } from "../../fixtures/runs.ts";
import { EXAMPLES, type ExampleHarness, startExample } from "../../helpers/examples.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// An LDAP source polled by entryCSN (deletes from the accesslog overlay): entries changed, added
// and deleted in a real slapd reach a second real slapd through the inbox and REALTIME/EXPORT
// runs, with no run started by the test. examples/ldap-to-ldap.yaml's systems, with the source
// switched to deltaStrategy: accesslog. The watchers are started here so one can be stopped.
let source: Slapd;
let target: Slapd;
let h: ExampleHarness;
let first: Watchers | undefined;
let second: Watchers | undefined;

async function withClient<T>(ldap: Slapd, use: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: ldap.url });
  try {
    await client.bind(ldap.bindDn, ldap.password);
    return await use(client);
  } finally {
    await client.unbind();
  }
}
const copy = (uid: string) =>
  withClient(target, async (c) => {
    try {
      return (await c.search(`uid=${uid},ou=people,${target.baseDn}`, { scope: "base" })).searchEntries[0] ?? null;
    } catch {
      return null; // noSuchObject
    }
  });
const setTitle = (dn: string, title: string) =>
  withClient(source, (c) =>
    c.modify(dn, [new Change({ operation: "replace", modification: new Attribute({ type: "title", values: [title] }) })]),
  );
const BABS = "cn=Barbara Jensen,ou=Information Technology Division,ou=People,dc=example,dc=com";
const manualRuns = () => h.services.db.prisma.run.count({ where: { trigger: { not: "REALTIME" } } });

beforeAll(async () => {
  [source, target] = await Promise.all([startSlapd({ sample: "openldap", overlays: ["accesslog"] }), startSlapd()]);
  h = await startExample(null, { watchers: false });
  const env = {
    SOURCE_LDAP_PORT: String(source.port),
    SOURCE_BIND_DN: source.bindDn,
    SOURCE_BIND_PASSWORD: source.password,
    TARGET_LDAP_PORT: String(target.port),
    TARGET_BIND_PASSWORD: target.password,
  };
  await h.cli(["apply", path.join(EXAMPLES, "ldap-to-ldap.yaml")], env);
  await h.cli(["systems", "discover", "source-directory", "target-directory"], env);
  await h.run("source-directory", "FULL_IMPORT");
  await h.run("source-directory", "DELTA_SYNC");
  await h.run("target-directory", "EXPORT");
  await h.run("target-directory", "FULL_IMPORT");
  const system = await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "source-directory" } });
  const settings = await h.services.systems.currentSettings(system);
  // The bind password is left out: kept.
  await h.services.systems.update(system.id, {
    name: system.name,
    kind: system.kind,
    config: { ...(settings.config as object), deltaStrategy: "accesslog" },
    realtime: { enabled: true, watch: true, windowMs: 10, pollIntervalMs: 300 },
  });
});
afterAll(async () => {
  await second?.stop();
  await first?.stop();
  await h?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
});

describe("LDAP watcher", () => {
  it("pushes entries changed, added and deleted in the source until the target follows", async () => {
    expect(await copy("bjensen")).toMatchObject({ title: "Mythical Manager, Research Systems" });
    const runsBefore = await manualRuns();
    first = startWatchers(h.services, { reconcileMs: 500 });
    await waitFor(async () => first!.watching().length === 1);

    await setTitle(BABS, "Alumni Liaison");
    await waitFor(async () => (await copy("bjensen"))?.title === "Alumni Liaison", 30_000, 100);

    await withClient(source, (c) =>
      c.add("cn=Ada Lovelace,ou=People,dc=example,dc=com", {
        objectClass: ["inetOrgPerson"],
        cn: "Ada Lovelace",
        sn: "Lovelace",
        uid: "alovelace",
        mail: "ada@example.com",
        title: "Analyst",
      }),
    );
    expect(await waitFor(() => copy("alovelace"), 30_000, 100)).toMatchObject({ cn: "Ada Lovelace", title: "Analyst" });

    await withClient(source, (c) => c.del("cn=Jane Doe,ou=Alumni Association,ou=People,dc=example,dc=com"));
    await waitFor(async () => (await copy("jdoe")) === null, 30_000, 100);

    expect(await manualRuns()).toBe(runsBefore);
    // The source objects keep their DN through the inbox.
    const sourceId = (await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "source-directory" } })).id;
    const objects = await h.services.db.prisma.connectorSpaceObject.findMany({
      where: { connectedSystemId: sourceId, status: "NORMAL" },
      select: { distinguishedName: true },
    });
    expect(objects.filter((o) => !o.distinguishedName)).toEqual([]);
    expect(objects.some((o) => /^cn=ada lovelace,ou=people,dc=example,dc=com$/i.test(o.distinguishedName!))).toBe(true);
  });

  it("resumes from its saved entryCSN: a change made while no watcher ran arrives, nothing else is pushed again", async () => {
    await first!.stop();
    const pushedBefore = await h.services.db.prisma.inboxEntry.count();
    await setTitle(BABS, "Retired");
    second = startWatchers(h.services, { reconcileMs: 500 });
    await waitFor(async () => (await copy("bjensen"))?.title === "Retired", 30_000, 100);
    expect(await h.services.db.prisma.inboxEntry.count()).toBe(pushedBefore + 1);
  });

  it("without accesslog, compares the directory's anchors for deletes: a delete made while no watcher ran arrives", async () => {
    await second!.stop();
    const system = await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "source-directory" } });
    const settings = await h.services.systems.currentSettings(system);
    await h.services.systems.update(system.id, {
      name: system.name,
      kind: system.kind,
      config: { ...(settings.config as object), deltaStrategy: "entryCSN" },
      realtime: { enabled: true, watch: true, windowMs: 10, pollIntervalMs: 300 },
    });
    expect(await copy("melliot")).not.toBeNull();
    await withClient(source, (c) => c.del("cn=Mark Elliot,ou=Alumni Association,ou=People,dc=example,dc=com"));
    const third = startWatchers(h.services, { reconcileMs: 500 });
    try {
      await waitFor(async () => (await copy("melliot")) === null, 30_000, 100);
      // Only that one: everyone else is still there.
      expect(await copy("bjensen")).toMatchObject({ title: "Retired" });
      const deletes = await h.services.db.prisma.inboxEntry.count({ where: { op: "delete" } });
      expect(deletes).toBe(2); // jdoe (accesslog) and melliot (comparison)
    } finally {
      await third.stop();
    }
  });
});
