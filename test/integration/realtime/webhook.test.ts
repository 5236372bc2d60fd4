import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok } from "../../e2e/helpers.ts";
import { waitFor } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { type ExampleHarness, startExample } from "../../helpers/examples.ts";
import { applyHrToLdap, hrPersonDn, hrToLdapCycle, ldapEntry } from "../../helpers/hr-to-ldap.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// Real-time through HTTP: changes pushed to POST /hooks/<system> reach a real slapd through the
// inbox, a REALTIME run (inbox -> connector space -> delta sync) and an EXPORT run, with no run
// started by hand. The systems are examples/hr-csv-to-ldap.yaml's.
let slapd: Slapd;
let h: ExampleHarness;
let app: TestApp;
const SECRET = "a-webhook-secret-of-some-length";

beforeAll(async () => {
  slapd = await startSlapd();
  h = await startExample("hr");
  app = await startTestApp(h.services);
  await applyHrToLdap(h, slapd);
  await hrToLdapCycle(h);
});
afterAll(async () => {
  await app?.stop();
  await h?.stop();
  await slapd?.stop();
});

const person = hrPersonDn;
const entry = (id: string) => ldapEntry(slapd, person(id));

const hire = (id: string, title = "Engineer") => ({
  op: "upsert",
  objectType: "person",
  anchor: id,
  attributes: {
    employeeId: id,
    givenName: "Mary",
    sn: "Jackson",
    title,
    department: "Engineering",
    managerId: "E1001",
    mail: "mary.jackson@example.org",
  },
});

async function push(body: unknown, headers: Record<string, string> = {}, system = "hr-people") {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const res = await fetch(`${app.url}/hooks/${system}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: raw,
  });
  return { status: res.status, body: (await res.json()) as any };
}

const sign = (raw: string, secret = SECRET, t = Math.floor(Date.now() / 1000)) =>
  `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${raw}`).digest("hex")}`;

async function enableRealtime(realtime: Record<string, unknown> | null) {
  const { connectedSystem } = await ok(app, '{ connectedSystem(name: "hr-people") { id kind config } }');
  const input = { name: "hr-people", kind: connectedSystem.kind, config: connectedSystem.config, realtime };
  const r = await ok(
    app,
    "mutation($id: ID!, $i: ConnectedSystemInput!) { updateConnectedSystem(id: $id, input: $i) { realtime { enabled windowMs webhookSecretSet } } }",
    { id: connectedSystem.id, i: input },
  );
  return r.updateConnectedSystem.realtime;
}

describe("real-time pushes", () => {
  it("refuses pushes while real-time is off, then turns it on with a secret that is never read back", async () => {
    expect((await push({ records: [hire("E1006")] })).status).toBe(409);
    expect(await enableRealtime({ enabled: true, windowMs: 10, webhookSecret: SECRET })).toEqual({
      enabled: true,
      windowMs: 10,
      webhookSecretSet: true,
    });
  });

  it("creates, updates and deletes a directory entry from pushes alone", async () => {
    const created = await push({ records: [hire("E1006")] });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ accepted: 1, ids: [expect.any(String)] });
    const joiner = await waitFor(() => entry("E1006"), 20_000, 100);
    expect(joiner).toMatchObject({ uid: "mary.jackson", title: "Engineer", manager: person("E1001") });

    const raw = JSON.stringify({ records: [hire("E1006", "Lead Engineer")] });
    expect((await push(raw, { "x-metasync-signature": sign(raw) })).status).toBe(202);
    await waitFor(async () => (await entry("E1006"))?.title === "Lead Engineer", 20_000, 100);

    expect((await push({ records: [{ op: "delete", objectType: "person", anchor: "E1006" }] })).status).toBe(202);
    await waitFor(async () => (await entry("E1006")) === null, 20_000, 100);

    // Every change went through runs the start gate accepted: the audit trail is the usual one.
    const runs = await waitFor(async () => {
      const all = await h.services.db.prisma.run.findMany({
        where: { trigger: "REALTIME" },
        select: { profile: true, status: true },
      });
      return all.every((r) => !["QUEUED", "RUNNING"].includes(r.status)) && all;
    });
    expect(new Set(runs.map((r) => r.profile))).toEqual(new Set(["REALTIME", "EXPORT"]));
    expect(runs.filter((r) => r.status !== "COMPLETED")).toEqual([]);
    // A REALTIME run's batches are its inbox pages and its sync: the steps with nothing to do
    // (an inbox keeps no watermark, no identity was due for deletion) record no batch.
    const batches = await h.services.db.prisma.runEvent.findMany({
      where: { type: "run.batch_processed", run: { profile: "REALTIME" } },
      select: { data: true },
    });
    expect(new Set(batches.map((b) => (b.data as { phase: string }).phase))).toEqual(new Set(["importing", "syncing"]));
    const inbox = await ok(app, '{ connectedSystem(name: "hr-people") { inbox { depth } } }');
    expect(inbox.connectedSystem.inbox.depth).toBe(0);
  });

  it("answers a repeated push with the first entry's id and applies it once", async () => {
    const record = { ...hire("E1007"), id: "hr-event-42" };
    const first = await push({ records: [record] });
    const again = await push({ records: [record] });
    expect(again.body.ids).toEqual(first.body.ids);
    await waitFor(() => entry("E1007"), 20_000, 100);
    expect(await h.services.db.prisma.inboxEntry.count({ where: { key: "client:hr-event-42" } })).toBe(1);
  });

  it("accepts a record that fails the system's schema, records it as a located error on its run, and applies the rest", async () => {
    const bad = { ...hire("E1010"), attributes: { ...hire("E1010").attributes, givenName: ["Two", "Names"] } };
    const pushed = await push({ records: [hire("E1009"), bad] });
    expect(pushed).toMatchObject({ status: 202, body: { accepted: 2 } });
    await waitFor(() => entry("E1009"), 20_000, 100);
    const applied = await h.services.db.prisma.inboxEntry.findFirstOrThrow({ where: { anchor: "E1010" } });
    const run = await waitFor(async () => {
      const r = await h.services.db.prisma.run.findUniqueOrThrow({ where: { id: applied.appliedRunId! } });
      return ["PARTIAL", "COMPLETED", "FAILED"].includes(r.status) && r;
    });
    expect(run.status).toBe("PARTIAL");
    const errors = await h.services.db.prisma.runChange.findMany({ where: { runId: run.id, changeType: "RECORD_ERROR" } });
    expect(errors).toEqual([expect.objectContaining({ anchor: "E1010", errorCode: "SCHEMA_VIOLATION" })]);
    expect(errors[0]!.message).toContain("givenName");
    expect(await entry("E1010")).toBeNull();
  });

  it("stores a pushed directory secret sealed: the inbox, connector space and run records never hold it in the clear", async () => {
    const hash = "{SSHA}bm90LWEtcmVhbC1oYXNo";
    const record = hire("E1011");
    const pushed = await push({ records: [{ ...record, attributes: { ...record.attributes, userPassword: hash } }] });
    expect(pushed.status).toBe(202);
    // A password sent as a JSON number is sealed as its text.
    const numeric = await push({
      records: [{ ...hire("E1012"), attributes: { ...hire("E1012").attributes, unicodePwd: 918273645 } }],
    });
    expect(numeric.status).toBe(202);
    const numericText = await h.services.db.pool.query<{ text: string }>(
      "SELECT attributes::text AS text FROM inbox_entry WHERE id = $1",
      [numeric.body.ids[0]],
    );
    expect(numericText.rows[0]!.text).toMatch(/"unicodePwd": "sealed:v1\./);
    expect(numericText.rows[0]!.text).not.toContain("918273645");
    // A value that looks sealed (a ciphertext copied from elsewhere) is sealed again: it opens to
    // the text pushed, never to what it hides.
    const copied = h.services.secrets.sealValue("{SSHA}c29tZW9uZS1lbHNlcw==");
    const replay = await push({
      records: [{ ...hire("E1013"), attributes: { ...hire("E1013").attributes, userPassword: copied } }],
    });
    expect(replay.status).toBe(202);
    const replayed = await h.services.db.prisma.inboxEntry.findUniqueOrThrow({ where: { id: replay.body.ids[0] } });
    const stored = (replayed.attributes as { userPassword: string }).userPassword;
    expect(stored).not.toBe(copied);
    expect(h.services.secrets.openValue(stored)).toBe(copied);
    const db = h.services.db;
    const { rows } = await db.pool.query<{ text: string }>("SELECT attributes::text AS text FROM inbox_entry WHERE id = $1", [
      pushed.body.ids[0],
    ]);
    expect(rows[0]!.text).toMatch(/"userPassword": "sealed:v1\./);
    // Applied by a REALTIME run: the connector space holds it sealed, as the inbox did.
    const runId = await waitFor(
      async () => (await db.prisma.inboxEntry.findUniqueOrThrow({ where: { id: BigInt(pushed.body.ids[0]) } })).appliedRunId,
    );
    await waitFor(
      async () => !["QUEUED", "RUNNING"].includes((await db.prisma.run.findUniqueOrThrow({ where: { id: runId } })).status),
    );
    const object = await db.pool.query<{ text: string }>(
      "SELECT attributes::text AS text FROM connector_space_object WHERE anchor = 'E1011'",
    );
    expect(object.rows[0]!.text).toMatch(/"userPassword": "sealed:v1\./);
    const clear = await db.pool.query<{ n: number }>(
      `SELECT ((SELECT count(*) FROM inbox_entry WHERE attributes::text LIKE $1)
             + (SELECT count(*) FROM connector_space_object WHERE attributes::text LIKE $1)
             + (SELECT count(*) FROM metaverse_object WHERE attributes::text LIKE $1)
             + (SELECT count(*) FROM run_change WHERE concat(attribute_changes::text, message) LIKE $1))::int AS n`,
      ["%bm90LWEtcmVhbC1oYXNo%"],
    );
    expect(clear.rows[0]!.n).toBe(0);
  });

  it("refuses bad signatures, strangers, malformed bodies and unknown systems or types, storing nothing", async () => {
    const before = await h.services.db.prisma.inboxEntry.count();
    const raw = JSON.stringify({ records: [hire("E1099")] });
    expect((await push(raw, { "x-metasync-signature": sign(raw, "not-the-secret-at-all") })).status).toBe(401);
    // A replay: a valid signature from ten minutes ago.
    expect((await push(raw, { "x-metasync-signature": sign(raw, SECRET, Math.floor(Date.now() / 1000) - 600) })).status).toBe(
      401,
    );
    // Signed for another body.
    expect((await push(raw.replace("E1099", "E1098"), { "x-metasync-signature": sign(raw) })).status).toBe(401);
    expect((await push("{not json")).status).toBe(400);
    const missingAnchor = await push({ records: [{ op: "upsert", objectType: "person", attributes: {} }] });
    expect(missingAnchor.status).toBe(400);
    expect(missingAnchor.body.errors[0].message).toContain("records[0].anchor");
    const badType = await push({ records: [{ ...hire("E1099"), objectType: "spaceship" }] });
    expect(badType).toMatchObject({ status: 400 });
    expect(badType.body.errors[0].message).toContain("spaceship");
    expect((await push({ records: [hire("E1099")] }, {}, "no-such-system")).status).toBe(404);
    const huge = JSON.stringify({ records: [{ ...hire("E1099"), attributes: { notes: "x".repeat(1_100_000) } }] });
    expect((await push(huge)).status).toBe(413);
    expect(await h.services.db.prisma.inboxEntry.count()).toBe(before);
  });
});

describe("real-time and the start gate", () => {
  it("a push while a full sync holds the system waits in the inbox and is applied after the sync", async () => {
    // Without a worker the full sync stays queued, holding the system's scope and the metaverse.
    await h.stopWorker();
    const system = await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "hr-people" } });
    const sync = await h.services.startGate.start({ connectedSystemId: system.id, profile: "FULL_SYNC", trigger: "MANUAL" });
    expect(sync.outcome).toBe("ACCEPTED");
    // A dashboard following the inbox over graphql-ws sees the record wait, then go.
    const states: { depth: number }[] = [];
    const client = app.ws();
    const unsubscribe = client.subscribe(
      {
        query: `subscription($id: ID) { inboxChanged(connectedSystemId: $id) { depth oldestAgeMs connectedSystem { name } } }`,
        variables: { id: system.id },
      },
      { next: (m) => states.push((m.data as any).inboxChanged), error: () => {}, complete: () => {} },
    );
    await new Promise((r) => setTimeout(r, 300)); // subscribed before the push
    expect((await push({ records: [hire("E1008")] })).status).toBe(202);
    const inbox = await ok(app, '{ connectedSystem(name: "hr-people") { inbox { depth oldestAgeMs } } }');
    expect(inbox.connectedSystem.inbox).toMatchObject({ depth: 1, oldestAgeMs: expect.any(Number) });
    await waitFor(async () => states.some((s) => s.depth === 1));
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/metasync_inbox_depth\{system="hr-people"\} 1/);

    await h.startWorker();
    await waitFor(() => entry("E1008"), 20_000, 100);
    const fullSync = await h.services.db.prisma.run.findUniqueOrThrow({ where: { id: sync.run!.id } });
    const applied = await h.services.db.prisma.inboxEntry.findFirstOrThrow({
      where: { connectedSystemId: system.id, anchor: "E1008" },
    });
    const realtime = await h.services.db.prisma.run.findUniqueOrThrow({ where: { id: applied.appliedRunId! } });
    expect(fullSync.status).toBe("COMPLETED");
    expect(realtime.profile).toBe("REALTIME");
    // Never interleaved: the pushed change was applied by a run that started after the sync ended.
    expect(realtime.startedAt!.getTime()).toBeGreaterThanOrEqual(fullSync.finishedAt!.getTime());
    await waitFor(async () => states.at(-1)?.depth === 0);
    expect(states[0]).toMatchObject({ depth: 1, connectedSystem: { name: "hr-people" } });
    unsubscribe();
    const after = await (await fetch(`${app.url}/metrics`)).text();
    expect(after).toMatch(/metasync_realtime_latency_seconds\{stage="applied",quantile="0.99"\} \d/);
    expect(after).toMatch(/metasync_realtime_latency_seconds\{stage="exported",quantile="0.5"\} \d/);
  });
});
