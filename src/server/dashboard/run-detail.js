// A run's page: live progress from runProgress (until its final status), counts, reason, its changes paged.
import { clear, errorBox, FINAL_STATUSES, fmtDuration, fmtTime, h, statusBadge } from "./dom.js";
import { gql, subscribe } from "./gql.js";
import { RUN_FIELDS } from "./runs.js";

export function runDetailView(main, [runId]) {
  const head = h("div", { class: "run-head" });
  const bar = h("progress", { id: "run-progress", max: 100, "aria-labelledby": "run-progress-text" });
  const barText = h("p", { id: "run-progress-text", "aria-live": "polite" });
  const counts = h("dl", { class: "counts" });
  const notes = h("div");
  // Mass-change breaker holds of the exports this run planned, with the figures.
  const holds = h("div", { id: "run-holds" });
  const changesBody = h("tbody");
  const changesInfo = h("span", { class: "muted" });
  const prev = h("button", { type: "button", disabled: true, onclick: () => loadChanges(-1) }, "← Previous");
  const next = h("button", { type: "button", disabled: true, onclick: () => loadChanges(1) }, "Next →");
  main.append(
    h("p", {}, h("a", { href: "#/" }, "← Runs")),
    head,
    h(
      "section",
      { "aria-labelledby": "progress-h" },
      h("h2", { id: "progress-h" }, "Progress"),
      bar,
      barText,
      counts,
      notes,
      holds,
    ),
    h(
      "section",
      { "aria-labelledby": "changes-h" },
      h("div", { class: "section-head" }, h("h2", { id: "changes-h" }, "Changes ", changesInfo), h("div", {}, prev, " ", next)),
      h(
        "table",
        { id: "changes" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Change", "Anchor", "Attributes", "Message", "Objects", "At"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        changesBody,
      ),
    ),
  );

  async function loadHolds() {
    try {
      const { run } = await gql(
        `query ($id: ID!) { run(id: $id) { breakerHolds { reason awaitingApproval held connectedSystem { name } } } }`,
        { id: runId },
      );
      clear(
        holds,
        (run?.breakerHolds ?? []).map((b) =>
          h(
            "p",
            { class: "error" },
            `Held for ${b.connectedSystem.name}: ${b.reason} (${b.awaitingApproval} of ${b.held} still waiting; `,
            h("a", { href: "#/exports" }, "release or reject"),
            ")",
          ),
        ),
      );
    } catch (err) {
      clear(holds, errorBox(err));
    }
  }

  let current = null;
  let holdsLoaded = false;
  function draw(run) {
    if (!holdsLoaded && FINAL_STATUSES.has(run.status)) {
      holdsLoaded = true;
      loadHolds();
    }
    current = run;
    const active = !FINAL_STATUSES.has(run.status);
    clear(
      head,
      h(
        "h2",
        { id: "run-title" },
        statusBadge(run.status),
        " ",
        `${run.profile.replaceAll("_", " ").toLowerCase()} of `,
        h("span", {}, run.connectedSystem.name),
        run.dryRun ? h("span", { class: "tag" }, "dry run") : null,
      ),
      h(
        "p",
        { class: "muted" },
        `${run.operation} · ${run.trigger} · created ${fmtTime(run.createdAt)} · started ${fmtTime(run.startedAt)} · finished ${fmtTime(run.finishedAt)}`,
        run.startedAt ? ` · ${fmtDuration(run.startedAt, run.finishedAt)}` : "",
      ),
      // Pause stops at the next batch boundary; a paused run keeps its scope until resumed or cancelled.
      run.status === "RUNNING" ? h("button", { type: "button", id: "pause-run", onclick: () => act("pauseRun") }, "Pause") : null,
      run.status === "PAUSED" ? h("button", { type: "button", id: "resume-run", onclick: resume }, "Resume") : null,
      active && run.status !== "CANCELLING"
        ? h("button", { type: "button", class: "danger", onclick: () => act("cancelRun") }, "Cancel run")
        : null,
    );
    const p = run.progress;
    const pct = p.percent ?? (run.status === "COMPLETED" ? 100 : null);
    if (pct === null) bar.removeAttribute("value");
    else bar.value = pct;
    bar.dataset.status = run.status;
    barText.textContent =
      `${run.status} · phase ${p.phase} · ${p.processed}${p.total !== null ? ` / ${p.total}` : ""} processed` +
      `${pct !== null ? ` · ${pct.toFixed(pct % 1 ? 1 : 0)}%` : ""} · batch ${p.batch}`;
    clear(
      counts,
      Object.entries(run.counts).map(([k, v]) => h("div", { dataset: { count: k } }, h("dt", {}, k), h("dd", {}, v))),
    );
    clear(
      notes,
      run.reasonCode || run.reason ? h("p", {}, h("code", {}, run.reasonCode ?? ""), " ", run.reason ?? "") : null,
      run.error ? h("p", { class: "error" }, run.error) : null,
      run.nextSteps.length
        ? h(
            "ul",
            { class: "next-steps" },
            run.nextSteps.map((s) => h("li", {}, s)),
          )
        : null,
      explanation,
    );
    if (run.status === "COMPLETED" && !explained) explain();
  }

  // A COMPLETED run that changed nothing says why (Run.explanation): asked once, when it completed.
  const explanation = h("div", { id: "run-explanation" });
  let explained = false;
  async function explain() {
    explained = true;
    try {
      const { run } = await gql(`query ($id: ID!) { run(id: $id) { explanation { code message nextSteps } } }`, { id: runId });
      const e = run?.explanation;
      if (!e) return;
      clear(
        explanation,
        h("p", { dataset: { code: e.code } }, "Nothing changed: ", h("code", {}, e.code), " ", e.message),
        e.nextSteps.length
          ? h(
              "ul",
              { class: "next-steps" },
              e.nextSteps.map((s) => h("li", {}, s)),
            )
          : null,
      );
    } catch (err) {
      clear(explanation, errorBox(err));
    }
  }

  /** pauseRun or cancelRun: both answer the run as it is now. */
  async function act(mutation) {
    try {
      const data = await gql(`mutation ($id: ID!) { ${mutation}(id: $id) { ${RUN_FIELDS} } }`, { id: runId });
      draw(data[mutation]);
    } catch (err) {
      notes.prepend(errorBox(err));
    }
  }

  async function resume() {
    try {
      const { resumeRun } = await gql(`mutation ($id: ID!) { resumeRun(id: $id) { outcome reason run { ${RUN_FIELDS} } } }`, {
        id: runId,
      });
      if (resumeRun.outcome !== "ACCEPTED") notes.prepend(h("p", { class: "error" }, resumeRun.reason ?? resumeRun.outcome));
      if (resumeRun.run) draw(resumeRun.run);
    } catch (err) {
      notes.prepend(errorBox(err));
    }
  }

  // Changes, 50 a page, forwards and backwards by cursor.
  const PAGE = 50;
  const cursors = [null];
  let pageIndex = 0;
  async function loadChanges(step = 0) {
    const target = Math.max(0, pageIndex + step);
    try {
      const { run } = await gql(
        `query ($id: ID!, $first: Int, $after: String) { run(id: $id) { changes(first: $first, after: $after) {
          totalCount pageInfo { hasNextPage endCursor }
          edges { node { id changeType anchor attributeChanges errorCode message location createdAt connectorSpaceObjectId metaverseObjectId pendingExportId } } } } }`,
        { id: runId, first: PAGE, after: cursors[target] },
      );
      if (!run) return;
      const c = run.changes;
      pageIndex = target;
      cursors[target + 1] = c.pageInfo.endCursor;
      changesInfo.textContent = `(${c.totalCount}${c.totalCount > PAGE ? `, page ${pageIndex + 1} of ${Math.ceil(c.totalCount / PAGE)}` : ""})`;
      prev.disabled = pageIndex === 0;
      next.disabled = !c.pageInfo.hasNextPage;
      clear(
        changesBody,
        c.edges.length === 0
          ? h(
              "tr",
              {},
              h("td", { colspan: 6, class: "muted" }, current && !FINAL_STATUSES.has(current.status) ? "None yet." : "None."),
            )
          : c.edges.map(({ node: ch }) =>
              h(
                "tr",
                { dataset: { changeType: ch.changeType } },
                h("td", {}, h("span", { class: `tag change-${ch.changeType.toLowerCase()}` }, ch.changeType)),
                h("td", {}, h("code", {}, ch.anchor ?? "—")),
                h("td", { class: "attrs" }, summariseChanges(ch.attributeChanges)),
                h(
                  "td",
                  {},
                  ch.errorCode ? h("code", { class: "bad" }, ch.errorCode) : null,
                  " ",
                  ch.message ?? "",
                  ch.location ? ` (${ch.location})` : "",
                ),
                h(
                  "td",
                  {},
                  ch.metaverseObjectId
                    ? h("a", { href: `#/objects/${encodeURIComponent(ch.metaverseObjectId)}` }, "metaverse object")
                    : null,
                  ch.pendingExportId ? h("span", { class: "muted" }, " export") : null,
                ),
                h("td", {}, fmtTime(ch.createdAt)),
              ),
            ),
      );
    } catch (err) {
      clear(changesBody, h("tr", {}, h("td", { colspan: 6 }, errorBox(err))));
    }
  }

  // runProgress: the run now, then every batch/status change; it completes after a final status.
  let refreshTimer = null;
  const stop = subscribe(
    `subscription ($id: ID!) { runProgress(runId: $id) { ${RUN_FIELDS} } }`,
    { id: runId },
    {
      next: (r) => {
        if (r.errors?.length) return clear(head, errorBox({ message: r.errors[0].message, code: r.errors[0].extensions?.code }));
        draw(r.data.runProgress);
        // While it runs, the first page of changes refreshes at most every 2 s.
        if (pageIndex === 0 && !refreshTimer)
          refreshTimer = setTimeout(() => {
            refreshTimer = null;
            loadChanges();
          }, 2000);
      },
      error: (err) => clear(head, errorBox(err)),
      complete: () => {
        clearTimeout(refreshTimer);
        refreshTimer = null;
        loadChanges(0 - pageIndex);
      },
    },
  );
  loadChanges();
  return () => {
    clearTimeout(refreshTimer);
    stop();
  };
}

/**
 * attributeChanges is JSON: [{ attribute, before, after }], [{ attribute, added, removed }] (a long
 * list: the values that changed), { attr: value } or [{ attribute, operation, values }].
 */
export function summariseChanges(changes) {
  if (!changes) return "—";
  const list = Array.isArray(changes) ? changes : Object.entries(changes).map(([attribute, after]) => ({ attribute, after }));
  const items = list.slice(0, 6).map((c) => {
    if (c && typeof c === "object" && "attribute" in c && Array.isArray(c.added)) {
      const removed = c.removed ?? [];
      return h("div", {}, h("b", {}, c.attribute), `: +${c.added.length} ${few(c.added)}`, ` −${removed.length} ${few(removed)}`);
    }
    if (c && typeof c === "object" && "attribute" in c) {
      const after = "after" in c ? c.after : (c.values ?? c.value);
      const before = "before" in c && c.before !== undefined && c.before !== null ? `${show(c.before)} → ` : "";
      return h("div", {}, h("b", {}, c.attribute), c.operation ? ` ${c.operation}` : "", ": ", before, show(after));
    }
    return h("div", {}, JSON.stringify(c));
  });
  if (list.length > 6) items.push(h("div", { class: "muted" }, `… ${list.length - 6} more`));
  return items;
}

/** The first values of a long list, and how many more. */
function few(values) {
  return values.length > 5 ? `(${show(values.slice(0, 5))}, … ${values.length - 5} more)` : `(${show(values)})`;
}

function show(v) {
  if (v === undefined || v === null) return "∅";
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
