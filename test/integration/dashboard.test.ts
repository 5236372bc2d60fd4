import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../src/jobs/worker.ts";
import { FAST_RUN_OPTIONS, rawId } from "../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { type Browser, launchChromium, type Page } from "../helpers/browser.ts";
import { closeTestServices, createTestServices } from "../helpers/services.ts";

// The dashboard at GET /, in a real headless Chromium, against the real API and a real worker
// running a real CSV import. DASHBOARD_SCREENSHOTS=<dir> keeps PNGs of the pages it checks.

const ROWS = 60;
let app: TestApp;
let browser: Browser;
let worker: WorkerHandle | undefined;
let dir: string;
let hrSystemId: string;
const shots = process.env.DASHBOARD_SCREENSHOTS;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "metasync-dashboard-"));
  if (shots) mkdirSync(shots, { recursive: true });
  // One batch per 6-row page, so that a small file shows progress batch by batch.
  const services = await createTestServices({}, { runOptions: { ...FAST_RUN_OPTIONS, importBatchSize: 1 } });
  [app, browser] = await Promise.all([startTestApp(services), launchChromium()]);
});
afterAll(async () => {
  await worker?.stop();
  await browser?.close();
  await app?.stop();
  if (app) await closeTestServices(app.services);
  rmSync(dir, { recursive: true, force: true });
});

async function gqlOk<T = any>(query: string, variables?: Record<string, unknown>): Promise<T> {
  const r = await app.gql<T>(query, variables);
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data!;
}

const text = (selector: string) => `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? "")`;

async function shot(page: Page, name: string) {
  if (shots) await page.screenshot(path.join(shots, `${name}.png`));
}

describe("dashboard", () => {
  it("serves the page and its modules with their content types, revalidation and a strict CSP", async () => {
    const page = await fetch(`${app.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/dashboard/app.js">');

    const js = await fetch(`${app.url}/dashboard/app.js`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const etag = js.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    expect((await fetch(`${app.url}/dashboard/app.js`, { headers: { "if-none-match": etag } })).status).toBe(304);
    expect((await fetch(`${app.url}/dashboard/style.css`)).headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect((await fetch(`${app.url}/dashboard/../package.json`)).status).toBe(404);
    expect((await fetch(`${app.url}/dashboard/%2e%2e%2fpackage.json`)).status).toBe(404);
    expect((await fetch(`${app.url}/dashboard/nope.js`)).status).toBe(404);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it("shows connected systems, starts a run from the page and follows the runs table and the run's progress live", async () => {
    // A CSV of ROWS people read 6 rows a page: 10 batches.
    const csv = path.join(dir, "hr.csv");
    writeFileSync(
      csv,
      [
        "employeeId,givenName,sn,mail",
        ...Array.from({ length: ROWS }, (_, i) => `E${i},Given${i},Sur${i},p${i}@example.com`),
      ].join("\n"),
    );
    const { createConnectedSystem: system } = await gqlOk(
      `mutation ($config: JSON!) { createConnectedSystem(input: { name: "hr-csv", kind: CSV, description: "HR export", config: $config }) { id } }`,
      { config: { path: csv, anchor: "employeeId", pageSize: 6 } },
    );
    await gqlOk(`mutation ($id: ID!) { refreshSchema(id: $id) { id } }`, { id: system.id });
    hrSystemId = system.id;

    const overview = await browser.newPage();
    await overview.goto(`${app.url}/`);
    await overview.evaluate("window.__sameDocument = true");
    // The system made through GraphQL, with its kind, settings version and discovered schema.
    const row = `#systems tr[data-system-name="hr-csv"]`;
    await overview.waitFor(`document.querySelector('${row}')`, "the hr-csv system in the systems table");
    const systemRow = await overview.evaluate<string>(`document.querySelector('${row}').innerText`);
    expect(systemRow).toContain("CSV");
    expect(systemRow).toContain("v1");
    expect(systemRow).toContain("person");
    // A system created while the page is open appears by itself (connectedSystemChanged). Created
    // once the page's socket is live: one made before its subscription exists has nothing to notify
    // (under a loaded full suite the socket took longer than the table's first query).
    await overview.waitFor(`document.getElementById("live").textContent.includes("live")`, "the live indicator");
    await gqlOk(
      `mutation { createConnectedSystem(input: { name: "csv-later", kind: CSV, config: { path: "/data/nowhere.csv", anchor: "id" } }) { id } }`,
    );
    await overview.waitFor(`document.querySelector('#systems tr[data-system-name="csv-later"]')`, "a system created after load");

    // Start a full import from the form. No worker runs yet, so the run waits QUEUED.
    await overview.evaluate(`(() => {
      const form = document.getElementById("start-form");
      form.system.value = ${JSON.stringify(system.id)};
      form.profile.value = "FULL_IMPORT";
      form.requestSubmit();
    })()`);
    await overview.waitFor(`document.querySelector('#start-result [data-outcome="ACCEPTED"]')`, "the ACCEPTED start result");
    const runId = await overview.waitFor<string>(
      `document.querySelector('#runs tr[data-run-id][data-status="QUEUED"]')?.dataset.runId`,
      "the new run, QUEUED, in the runs table",
    );

    // The run's own page, in a second tab: progress before the worker exists.
    const detail = await browser.newPage();
    await detail.goto(`${app.url}/#/runs/${encodeURIComponent(runId)}`);
    await detail.evaluate("window.__sameDocument = true");
    await detail.waitFor(`${text("#run-progress-text")}.startsWith("QUEUED")`, "QUEUED in the run's progress");
    // Every progress text the page shows, to prove it moved on its own.
    await detail.evaluate(`(() => {
      const el = document.getElementById("run-progress-text");
      window.__progress = [el.textContent];
      new MutationObserver(() => window.__progress.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
    })()`);
    await shot(overview, "1-overview-queued");

    worker = await startWorker({ services: app.services, executors: defaultExecutors, scheduler: false });

    // Both pages reach the final status by themselves: no reload, no navigation.
    await overview.waitFor(
      `document.querySelector('#runs tr[data-run-id="${runId}"]')?.dataset.status === "COMPLETED"`,
      "COMPLETED in the runs table",
      20_000,
    );
    const runRow = await overview.evaluate<Record<string, string>>(`(() => {
      const tr = document.querySelector('#runs tr[data-run-id="${runId}"]');
      return Object.fromEntries([...tr.querySelectorAll("[data-col]")].map((td) => [td.dataset.col, td.textContent]));
    })()`);
    expect(runRow).toMatchObject({ status: "COMPLETED", fetched: String(ROWS), created: String(ROWS), failed: "0" });

    await detail.waitFor(`${text("#run-progress-text")}.startsWith("COMPLETED")`, "COMPLETED in the run's progress", 20_000);
    const progressText = await detail.evaluate<string>(text("#run-progress-text"));
    // A CSV's size is not known up front (total null): processed, then 100% once it completed.
    expect(progressText).toMatch(new RegExp(`· ${ROWS}( / ${ROWS})? processed · 100% · batch (\\d+)$`));
    expect(Number(progressText.match(/batch (\d+)$/)![1])).toBeGreaterThanOrEqual(10);
    expect(await detail.evaluate("document.getElementById('run-progress').value")).toBe(100);
    expect(await detail.evaluate(`document.querySelector('[data-count="created"] dd').textContent`)).toBe(String(ROWS));
    const seen = await detail.evaluate<string[]>("window.__progress");
    expect(seen[0]).toMatch(/^QUEUED/);
    expect(seen.at(-1)).toMatch(/^COMPLETED/);
    // The run's changes, loaded when the subscription completed: one per imported row, paged by 50.
    await detail.waitFor(`${text("#changes-h")}.includes("(${ROWS}, page 1 of 2)")`, "the run's changes count");
    expect(await detail.evaluate("document.querySelectorAll('#changes tbody tr').length")).toBe(50);
    await detail.evaluate(`[...document.querySelectorAll("button")].find((b) => b.textContent.startsWith("Next"))?.click()`);
    await detail.waitFor(
      `${text("#changes-h")}.includes("page 2 of 2") && document.querySelectorAll('#changes tbody tr').length === ${ROWS - 50}`,
      "the second page of changes",
    );

    expect(await overview.evaluate("window.__sameDocument")).toBe(true);
    expect(await detail.evaluate("window.__sameDocument")).toBe(true);
    await shot(overview, "2-overview-completed");
    await shot(detail, "3-run-detail");
    expect(overview.problems).toEqual([]);
    expect(detail.problems).toEqual([]);
  });

  it("finds a metaverse object by attribute, opens its history, and approves or rejects awaiting exports", async () => {
    // Project the imported people into the metaverse with a real full sync.
    await gqlOk(`mutation ($input: SyncRuleInput!) { createSyncRule(input: $input) { id } }`, {
      input: {
        name: "hr-in",
        connectedSystemId: hrSystemId,
        direction: "INBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
        projectToMetaverse: true,
        attributeFlows: [
          { target: "employeeId", source: "employeeId" },
          { target: "mail", source: "mail" },
          { target: "displayName", expression: 'givenName & " " & sn' },
        ],
      },
    });
    const { startRun } = await gqlOk(
      `mutation ($id: ID!) { startRun(input: { connectedSystemId: $id, profile: FULL_SYNC }) { outcome run { id } } }`,
      { id: hrSystemId },
    );
    expect(startRun.outcome).toBe("ACCEPTED");
    await expect
      .poll(async () => (await gqlOk(`query ($id: ID!) { run(id: $id) { status } }`, { id: startRun.run.id })).run.status, {
        timeout: 15_000,
      })
      .toBe("COMPLETED");

    const page = await browser.newPage();
    await page.goto(`${app.url}/#/objects`);
    const search = (mode: string, value: string) =>
      page.evaluate(`(() => {
        const form = document.getElementById("object-search");
        form.attribute.value = "mail";
        form.mode.value = ${JSON.stringify(mode)};
        form.value.value = ${JSON.stringify(value)};
        form.requestSubmit();
      })()`);
    await page.waitFor(`${text("#objects-h")}.includes("(${ROWS})")`, "every projected object before a search");
    await search("startsWith", "p1");
    await page.waitFor(`${text("#objects-h")}.includes("(11)")`, "p1, p10..p19 for mail starts with p1");
    await search("equals", "p7@example.com");
    await page.waitFor(
      `${text("#objects-h")}.includes("(1)") && ${text("#objects tbody")}.includes("Given7 Sur7")`,
      "exactly Given7 Sur7 for mail equals p7@example.com",
    );
    await page.evaluate(`document.querySelector("#objects tbody a").click()`);
    await page.waitFor(`document.querySelector("#history tbody tr")`, "the object's history");
    const detail = await page.evaluate<string>(`document.querySelector("main").innerText`);
    expect(detail).toContain("Given7 Sur7");
    expect(detail).toContain("p7@example.com");
    expect(detail).toContain("hr-csv"); // its connector and the source of its values
    expect(await page.evaluate(`${text("#history tbody")}.includes("hr-csv")`)).toBe(true);
    await shot(page, "4-object-history");
    // Drill from the history into the run that made the change.
    await page.evaluate(`document.querySelector("#history a").click()`);
    await page.waitFor(`${text("#run-title")}.includes("full sync of hr-csv")`, "the sync run's page");
    await page.waitFor(`${text("#run-progress-text")}.startsWith("COMPLETED")`, "the sync run COMPLETED");

    // Three exports awaiting approval (as an export run over the delete threshold leaves them).
    const { rows } = await app.services.db.pool.query<{ id: string }>(
      `INSERT INTO pending_export (connected_system_id, change_type, status, attribute_changes, requires_approval)
       SELECT $1, 'DELETE', 'AWAITING_APPROVAL', '[]'::jsonb, true FROM generate_series(1, 3) RETURNING id`,
      [rawId(hrSystemId)],
    );
    await page.goto(`${app.url}/#/exports`);
    await page.waitFor(
      `document.querySelectorAll('#exports tr[data-status="AWAITING_APPROVAL"]').length === 3`,
      "3 awaiting exports",
    );
    await shot(page, "5-exports");
    await page.evaluate(`(() => {
      document.querySelector('#exports tbody input[type=checkbox]').click();
      [...document.querySelectorAll("button")].find((b) => b.textContent === "Approve selected").click();
    })()`);
    await page.waitFor(`${text("main")}.includes("1 export(s) approved")`, "the approval message");
    await page.waitFor(
      `document.querySelectorAll('#exports tr[data-status="AWAITING_APPROVAL"]').length === 2`,
      "2 left awaiting",
    );
    await page.evaluate(`(() => {
      window.confirm = () => true;
      document.querySelector('#exports thead input[type=checkbox]').click();
      [...document.querySelectorAll("button")].find((b) => b.textContent === "Reject selected").click();
    })()`);
    await page.waitFor(`${text("main")}.includes("2 export(s) rejected")`, "the rejection message");
    const statuses = await app.services.db.pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM pending_export WHERE id = ANY($1) GROUP BY status ORDER BY status`,
      [rows.map((r) => r.id)],
    );
    expect(statuses.rows).toEqual([
      { status: "PENDING", n: 1 },
      { status: "REJECTED", n: 2 },
    ]);
    expect(page.problems).toEqual([]);
  });

  // Last: once a key exists, every caller (this file's gql() included) needs one.
  it("asks for an API key once keys exist, and uses the one entered for queries and subscriptions", async () => {
    const { createApiKey } = await gqlOk(`mutation { createApiKey(input: { role: READER, name: "dashboard" }) { key } }`);
    const page = await browser.newPage();
    await page.goto(`${app.url}/`);
    await page.waitFor(`${text("#systems")}.includes("UNAUTHENTICATED")`, "the refusal in the systems table");
    await page.waitFor(`${text("#live")} === "unauthenticated"`, "the socket refused");

    await page.evaluate(`(() => {
      document.getElementById("api-key").value = ${JSON.stringify(createApiKey.key)};
      document.getElementById("key-form").requestSubmit();
    })()`);
    await page.waitFor(`document.querySelector('#systems tr[data-system-name="hr-csv"]')`, "the systems, with the key");
    await page.waitFor(`${text("#live")}.includes("live")`, "the socket accepted with the key");
    expect(await page.evaluate(`sessionStorage.getItem("metasync.apiKey")`)).toBe(createApiKey.key);
    // A reader may look but not start: the page says why.
    await page.evaluate(`document.getElementById("start-form").requestSubmit()`);
    await page.waitFor(`${text("#start-result")}.includes("FORBIDDEN")`, "FORBIDDEN for a reader's start");
  });
  it("pauses a running run, resumes a paused one and cancels a queued one from the run's page", async () => {
    // No worker: each run stays in the state the page's buttons put it in.
    await worker?.stop();
    worker = undefined;
    const systemId = rawId(hrSystemId);
    const settings = await app.services.db.prisma.connectionSettings.findFirstOrThrow({
      where: { connectedSystemId: systemId },
      orderBy: { version: "desc" },
    });
    const make = (status: "RUNNING" | "PAUSED") =>
      app.services.db.prisma.run.create({
        data: {
          operation: "connector.full_import",
          profile: "FULL_IMPORT",
          connectedSystemId: systemId,
          connectionSettingsId: settings.id,
          scopeKey: `connector.full_import:${systemId}`,
          status,
          startedAt: new Date(),
          heartbeatAt: new Date(),
        },
      });
    const runNow = (id: string) => app.services.db.prisma.run.findUniqueOrThrow({ where: { id } });
    // Keys exist since the previous test: the page uses an operator's, as the key form keeps it.
    const { key } = await app.services.apiKeys.create({ role: "OPERATOR", name: "dashboard-operator" });
    const page = await browser.newPage();
    await page.goto(`${app.url}/`);
    // The key goes into the dashboard's own storage: its document must be the one loaded, not the
    // blank page before it (on a loaded machine goto can return first, and the key was lost).
    await page.waitFor(
      `location.origin === ${JSON.stringify(app.url)} && document.readyState === "complete"`,
      "the dashboard loaded",
    );
    await page.evaluate(`sessionStorage.setItem("metasync.apiKey", ${JSON.stringify(key)})`);
    await page.waitFor(`sessionStorage.getItem("metasync.apiKey") === ${JSON.stringify(key)}`, "the key stored");

    const running = await make("RUNNING");
    await page.goto(`${app.url}/#/runs/${running.id}`);
    await page.waitFor(`document.getElementById("pause-run")`, "the Pause button of a running run");
    await page.evaluate(`document.getElementById("pause-run").click()`);
    await expect.poll(async () => (await runNow(running.id)).pauseRequestedAt).not.toBeNull();
    await app.services.db.prisma.run.update({ where: { id: running.id }, data: { status: "CANCELLED", finishedAt: new Date() } });

    const paused = await make("PAUSED");
    await page.goto(`${app.url}/#/runs/${paused.id}`);
    await page.waitFor(`document.getElementById("resume-run")`, "the Resume button of a paused run");
    expect(await page.evaluate<boolean>(`document.getElementById("pause-run") === null`)).toBe(true);
    await page.evaluate(`document.getElementById("resume-run").click()`);
    await expect.poll(async () => (await runNow(paused.id)).status).toBe("QUEUED");
    await page.waitFor(`${text("#run-progress-text")}.startsWith("QUEUED")`, "QUEUED on the page after Resume");

    await page.evaluate(`document.querySelector(".run-head button.danger").click()`);
    await expect.poll(async () => (await runNow(paused.id)).status).toBe("CANCELLED");
  });
});
