// The overview: connected systems, the start-run form, the runs table kept current by runsChanged.
import { runChart } from "./chart.js";
import { clear, errorBox, FINAL_STATUSES, fmtDuration, fmtTime, h, label, select, statusBadge } from "./dom.js";
import { gql, subscribe } from "./gql.js";
import { breakerText } from "./holds.js";
import { realtimeStrip } from "./realtime.js";

const PROFILES = ["FULL_IMPORT", "DELTA_IMPORT", "FULL_SYNC", "DELTA_SYNC", "EXPORT"];

export const RUN_FIELDS = `id status profile operation dryRun trigger createdAt startedAt finishedAt
  reasonCode reason error nextSteps
  connectedSystem { id name kind }
  progress { phase processed total percent batch updatedAt }
  counts { fetched created updated deleted unchanged failed exportsQueued }`;

const SYSTEMS = `{ connectedSystems { id name kind description staging settingsVersion schemaDiscoveredAt
  effectiveBreaker { enabled isDefault maxCreates maxUpdates maxDeletes maxCreatePercent maxUpdatePercent maxDeletePercent attributes { name maxChangePercent } } updatedAt objectTypes { name } } }`;
const RUNS = `query ($first: Int, $after: String, $system: ID) {
  runs(first: $first, after: $after, connectedSystemId: $system) { totalCount pageInfo { hasNextPage endCursor } edges { node { ${RUN_FIELDS} } } }
}`;
// The chart's runs: the newest finished ones, drawn oldest first.
const FINISHED = `query ($system: ID) {
  runs(first: 100, connectedSystemId: $system, status: [COMPLETED, PARTIAL, FAILED]) {
    edges { node { id status profile startedAt finishedAt connectedSystem { name } progress { processed } counts { fetched } } }
  }
}`;
const START = `mutation ($input: StartRunInput!) {
  startRun(input: $input) { outcome reasonCode reason nextSteps message run { id status } }
}`;

export function overviewView(main) {
  const systemsBody = h("tbody");
  const systemsSection = h(
    "section",
    { "aria-labelledby": "systems-h", id: "systems" },
    h("h2", { id: "systems-h" }, "Connected systems"),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h("tr", {}, h("th", {}, "Name"), h("th", {}, "Kind"), h("th", {}, "Settings"), h("th", {}, "Schema discovered")),
      ),
      systemsBody,
    ),
  );

  const systemSelect = h("select", { name: "system", required: true });
  const profileSelect = select(
    "profile",
    PROFILES.map((p) => [p, p.replaceAll("_", " ").toLowerCase()]),
    "FULL_IMPORT",
  );
  const dryRun = h("input", { type: "checkbox", name: "dryRun" });
  const startResult = h("div", { id: "start-result", "aria-live": "polite" });
  const startButton = h("button", { type: "submit" }, "Start run");
  const startForm = h(
    "form",
    { id: "start-form", class: "inline-form", onsubmit: (e) => startRun(e) },
    label("System", systemSelect),
    label("Profile", profileSelect),
    h("label", { class: "check" }, dryRun, h("span", {}, "Dry run")),
    startButton,
  );

  const systemFilter = h("select", { name: "filter", "aria-label": "Show runs of" });
  const runsBody = h("tbody");
  const runsCount = h("span", { class: "muted" });
  const more = h("button", { type: "button", hidden: true, onclick: () => loadRuns(true) }, "Load more");
  const runsError = h("div");
  const chart = h("div", { id: "run-chart" });

  const realtime = realtimeStrip();
  main.append(
    systemsSection,
    realtime.section,
    h("section", { "aria-labelledby": "start-h" }, h("h2", { id: "start-h" }, "Start a run"), startForm, startResult),
    h(
      "section",
      { "aria-labelledby": "chart-h" },
      h("h2", { id: "chart-h" }, "Throughput and duration ", h("span", { class: "muted" }, "(last 100 finished runs)")),
      chart,
    ),
    h(
      "section",
      { "aria-labelledby": "runs-h", id: "runs" },
      h("div", { class: "section-head" }, h("h2", { id: "runs-h" }, "Runs ", runsCount), label("System", systemFilter)),
      runsError,
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            [
              "Status",
              "Profile",
              "System",
              "Progress",
              "Fetched",
              "Created",
              "Updated",
              "Deleted",
              "Failed",
              "Started",
              "Finished",
            ].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        runsBody,
      ),
      more,
    ),
  );

  let systems = [];
  async function loadSystems() {
    try {
      ({ connectedSystems: systems } = await gql(SYSTEMS));
    } catch (err) {
      clear(systemsBody, h("tr", {}, h("td", { colspan: 4 }, errorBox(err))));
      return;
    }
    clear(
      systemsBody,
      systems.length === 0
        ? h(
            "tr",
            {},
            h("td", { colspan: 4, class: "muted" }, "No connected system yet: createConnectedSystem or metasync apply."),
          )
        : systems.map((s) =>
            h(
              "tr",
              { dataset: { systemId: s.id, systemName: s.name } },
              h(
                "td",
                {},
                h("strong", {}, s.name),
                // Staging: exports are planned and reviewable under Exports, never sent.
                s.staging ? h("span", { class: "tag staging", title: "exports are planned, never sent" }, " staging") : null,
                s.description ? h("div", { class: "muted" }, s.description) : null,
                h("div", { class: "muted breaker" }, breakerText(s.effectiveBreaker)),
              ),
              h("td", {}, s.kind),
              h("td", {}, `v${s.settingsVersion}`),
              h(
                "td",
                {},
                s.schemaDiscoveredAt
                  ? `${fmtTime(s.schemaDiscoveredAt)} (${s.objectTypes.map((t) => t.name).join(", ") || "no types"})`
                  : h("span", { class: "warn" }, "not yet: refreshSchema"),
              ),
            ),
          ),
    );
    const keep = systemSelect.value;
    const keepFilter = systemFilter.value;
    clear(
      systemSelect,
      systems.map((s) => h("option", { value: s.id, selected: s.id === keep }, s.name)),
    );
    clear(
      systemFilter,
      h("option", { value: "" }, "all"),
      systems.map((s) => h("option", { value: s.id, selected: s.id === keepFilter }, s.name)),
    );
    startButton.disabled = systems.length === 0;
  }

  async function startRun(e) {
    e.preventDefault();
    startButton.disabled = true;
    clear(startResult, h("p", { class: "muted" }, "Starting…"));
    try {
      const { startRun: r } = await gql(START, {
        input: { connectedSystemId: systemSelect.value, profile: profileSelect.value, dryRun: dryRun.checked },
      });
      clear(
        startResult,
        h(
          "div",
          { class: `outcome outcome-${r.outcome.toLowerCase()}`, dataset: { outcome: r.outcome } },
          h("p", {}, h("strong", {}, r.outcome), " ", r.message),
          r.reasonCode ? h("p", {}, h("code", {}, r.reasonCode), " ", r.reason ?? "") : null,
          r.nextSteps.length
            ? h(
                "ul",
                { class: "next-steps" },
                r.nextSteps.map((s) => h("li", {}, s)),
              )
            : null,
          r.run ? h("p", {}, h("a", { href: `#/runs/${encodeURIComponent(r.run.id)}` }, "Open the run →")) : null,
        ),
      );
      if (r.run) upsertRun({ ...r.run, pending: true });
    } catch (err) {
      clear(startResult, errorBox(err));
    } finally {
      startButton.disabled = systems.length === 0;
    }
  }

  // Runs, newest first; runsChanged keeps every shown row current and adds new ones at the top.
  const runs = new Map();
  let cursor = null;
  async function loadChart() {
    try {
      const { runs: page } = await gql(FINISHED, { system: systemFilter.value || null });
      clear(chart, runChart(page.edges.map((e) => e.node)));
    } catch (err) {
      clear(chart, errorBox(err));
    }
  }
  // A finished run redraws the chart, at most once a second however many finish together.
  let chartTimer = null;
  const redrawChart = () => {
    if (chartTimer) return;
    chartTimer = setTimeout(() => {
      chartTimer = null;
      loadChart();
    }, 1000);
  };

  async function loadRuns(append = false) {
    try {
      const { runs: page } = await gql(RUNS, { first: 25, after: append ? cursor : null, system: systemFilter.value || null });
      if (!append) runs.clear();
      for (const { node } of page.edges) runs.set(node.id, node);
      cursor = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
      runsCount.textContent = `(${page.totalCount})`;
      clear(runsError);
      drawRuns();
    } catch (err) {
      clear(runsError, errorBox(err));
    }
  }
  function upsertRun(run) {
    if (run.pending) {
      // From startRun: fetched whole when its first runsChanged arrives (or below).
      if (!runs.has(run.id))
        gql(`query ($id: ID!) { run(id: $id) { ${RUN_FIELDS} } }`, { id: run.id }).then((d) => d.run && upsertRun(d.run));
      return;
    }
    if (systemFilter.value && run.connectedSystem.id !== systemFilter.value) return;
    if (!runs.has(run.id)) runsCount.textContent = `(${Number(runsCount.textContent.replace(/\D/g, "") || 0) + 1})`;
    runs.set(run.id, run);
    drawRuns();
    if (FINAL_STATUSES.has(run.status)) redrawChart();
  }
  function drawRuns() {
    const rows = [...runs.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    clear(
      runsBody,
      rows.length === 0
        ? h("tr", {}, h("td", { colspan: 11, class: "muted" }, "No runs yet."))
        : rows.map((r) =>
            h(
              "tr",
              { dataset: { runId: r.id, status: r.status } },
              h(
                "td",
                { dataset: { col: "status" } },
                h("a", { href: `#/runs/${encodeURIComponent(r.id)}` }, statusBadge(r.status)),
              ),
              h("td", {}, r.profile, r.dryRun ? h("span", { class: "tag" }, "dry run") : null),
              h("td", {}, r.connectedSystem.name),
              h("td", { class: "progress-cell" }, miniProgress(r)),
              ["fetched", "created", "updated", "deleted", "failed"].map((k) =>
                h("td", { class: `num${k === "failed" && r.counts[k] ? " bad" : ""}`, dataset: { col: k } }, r.counts[k]),
              ),
              h("td", {}, r.startedAt ? fmtTime(r.startedAt) : h("span", { class: "muted" }, `queued ${fmtTime(r.createdAt)}`)),
              h(
                "td",
                {},
                r.finishedAt ? `${fmtTime(r.finishedAt)} (${fmtDuration(r.startedAt ?? r.createdAt, r.finishedAt)})` : "—",
              ),
            ),
          ),
    );
  }

  systemFilter.addEventListener("change", () => {
    loadRuns();
    loadChart();
  });
  loadSystems().then(() => {
    loadRuns();
    loadChart();
  });

  const stopRuns = subscribe(
    `subscription { runsChanged { ${RUN_FIELDS} } }`,
    {},
    {
      next: (r) => r.data?.runsChanged && upsertRun(r.data.runsChanged),
      error: (err) => clear(runsError, errorBox(err)),
    },
  );
  const stopSystems = subscribe(
    `subscription { connectedSystemChanged { change connectedSystemId } }`,
    {},
    {
      next: () => {
        loadSystems();
        realtime.reload();
      },
    },
  );
  return () => {
    realtime.stop();
    clearTimeout(chartTimer);
    stopRuns();
    stopSystems();
  };
}

function miniProgress(r) {
  const p = r.progress;
  const pct = p.percent ?? (FINAL_STATUSES.has(r.status) && r.status === "COMPLETED" ? 100 : null);
  const text = p.total ? `${p.processed}/${p.total}` : String(p.processed);
  return h(
    "span",
    { class: "mini" },
    h("progress", {
      max: 100,
      value: pct ?? undefined,
      "aria-label": `progress ${pct === null ? "unknown" : `${Math.round(pct)}%`}`,
    }),
    h("span", { class: "muted" }, ` ${text}`),
  );
}
