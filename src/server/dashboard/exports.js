// Pending exports: filter by status/system, approve or reject AWAITING_APPROVAL ones; refreshed live.
import { clear, errorBox, fmtTime, h, label, statusBadge } from "./dom.js";
import { gql, subscribe } from "./gql.js";
import { holdsSection } from "./holds.js";

const STATUSES = [
  "AWAITING_APPROVAL",
  "PENDING",
  "EXECUTING",
  "EXPORTED",
  "FAILED",
  "ERROR",
  "CONFIRMED",
  "REJECTED",
  "CANCELLED",
];

const EXPORTS = `query ($status: [PendingExportStatus!], $system: ID, $first: Int, $after: String) {
  pendingExports(status: $status, connectedSystemId: $system, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node {
      id changeType status errorCount maxRetries lastError lastErrorCode approvalReason createdAt updatedAt
      connectedSystem { id name }
      connectorSpaceObject { anchor distinguishedName }
      metaverseObject { id displayName }
      attributeChanges { attribute operation values }
    } }
  }
}`;

export function exportsView(main) {
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "any"),
    STATUSES.map((s) => h("option", { value: s, selected: s === "AWAITING_APPROVAL" }, s.replaceAll("_", " ").toLowerCase())),
  );
  const system = h("select", { name: "system" }, h("option", { value: "" }, "all"));
  const body = h("tbody");
  const info = h("span", { class: "muted" });
  const message = h("div", { "aria-live": "polite" });
  const approve = h("button", { type: "button", disabled: true, onclick: () => decide("approve") }, "Approve selected");
  const reject = h(
    "button",
    { type: "button", class: "danger", disabled: true, onclick: () => decide("reject") },
    "Reject selected",
  );
  const more = h("button", { type: "button", hidden: true, onclick: () => load(true) }, "Load more");
  const all = h("input", { type: "checkbox", "aria-label": "Select every awaiting export shown", onchange: () => selectAll() });

  const holds = holdsSection();
  main.append(
    holds.section,
    h(
      "section",
      { "aria-labelledby": "exports-h" },
      h(
        "div",
        { class: "section-head" },
        h("h2", { id: "exports-h" }, "Pending exports ", info),
        h("div", { class: "inline-form" }, label("Status", status), label("System", system), approve, reject),
      ),
      message,
      h(
        "table",
        { id: "exports" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, all),
            ["Status", "Change", "System", "Object", "Attributes", "Retries / error", "Updated"].map((t) =>
              h("th", { scope: "col" }, t),
            ),
          ),
        ),
        body,
      ),
      more,
    ),
  );

  const selected = new Set();
  let rows = [];
  let cursor = null;

  async function load(append = false) {
    try {
      const data = await gql(EXPORTS, {
        status: status.value ? [status.value] : null,
        system: system.value || null,
        first: 50,
        after: append ? cursor : null,
      });
      const page = data.pendingExports;
      rows = append ? [...rows, ...page.edges.map((e) => e.node)] : page.edges.map((e) => e.node);
      if (!append) holds.refresh();
      cursor = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
      info.textContent = `(${page.totalCount})`;
      for (const id of [...selected]) if (!rows.some((r) => r.id === id && r.status === "AWAITING_APPROVAL")) selected.delete(id);
      draw();
    } catch (err) {
      clear(body, h("tr", {}, h("td", { colspan: 8 }, errorBox(err))));
    }
  }

  function draw() {
    clear(
      body,
      rows.length === 0
        ? h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No pending exports match."))
        : rows.map((e) => {
            const awaiting = e.status === "AWAITING_APPROVAL";
            return h(
              "tr",
              { dataset: { exportId: e.id, status: e.status } },
              h(
                "td",
                {},
                awaiting
                  ? h("input", {
                      type: "checkbox",
                      checked: selected.has(e.id),
                      "aria-label": `Select export ${e.id}`,
                      onchange: (ev) => {
                        if (ev.target.checked) selected.add(e.id);
                        else selected.delete(e.id);
                        syncButtons();
                      },
                    })
                  : null,
              ),
              h("td", {}, statusBadge(e.status), e.approvalReason ? h("div", { class: "muted" }, e.approvalReason) : null),
              h("td", {}, h("span", { class: `tag change-${e.changeType.toLowerCase()}` }, e.changeType)),
              h("td", {}, e.connectedSystem.name),
              h(
                "td",
                {},
                e.metaverseObject
                  ? h(
                      "a",
                      { href: `#/objects/${encodeURIComponent(e.metaverseObject.id)}` },
                      e.metaverseObject.displayName ?? "object",
                    )
                  : null,
                e.connectorSpaceObject
                  ? h("div", {}, h("code", {}, e.connectorSpaceObject.distinguishedName ?? e.connectorSpaceObject.anchor))
                  : null,
              ),
              h(
                "td",
                { class: "attrs" },
                e.attributeChanges
                  .slice(0, 5)
                  .map((c) => h("div", {}, h("b", {}, c.attribute), ` ${c.operation}: ${c.values.join(", ")}`)),
                e.attributeChanges.length > 5 ? h("div", { class: "muted" }, `… ${e.attributeChanges.length - 5} more`) : null,
              ),
              h(
                "td",
                {},
                `${e.errorCount}/${e.maxRetries}`,
                e.lastError ? h("div", { class: "bad" }, e.lastErrorCode ? `${e.lastErrorCode}: ` : "", e.lastError) : null,
              ),
              h("td", {}, fmtTime(e.updatedAt)),
            );
          }),
    );
    syncButtons();
  }

  function syncButtons() {
    approve.disabled = reject.disabled = selected.size === 0;
    const awaiting = rows.filter((r) => r.status === "AWAITING_APPROVAL");
    all.checked = awaiting.length > 0 && awaiting.every((r) => selected.has(r.id));
    all.disabled = awaiting.length === 0;
  }

  function selectAll() {
    for (const r of rows) if (r.status === "AWAITING_APPROVAL") all.checked ? selected.add(r.id) : selected.delete(r.id);
    draw();
  }

  async function decide(action) {
    const ids = [...selected];
    if (action === "reject" && !confirm(`Reject ${ids.length} export(s)? They will not be applied.`)) return;
    try {
      const field = action === "approve" ? "approvePendingExports" : "rejectPendingExports";
      const data = await gql(`mutation ($ids: [ID!]) { ${field}(ids: $ids) }`, { ids });
      clear(message, h("p", { class: "ok" }, `${data[field]} export(s) ${action === "approve" ? "approved" : "rejected"}.`));
      selected.clear();
      await load();
    } catch (err) {
      clear(message, errorBox(err));
    }
  }

  status.addEventListener("change", () => load());
  system.addEventListener("change", () => load());
  gql(`{ connectedSystems { id name } }`)
    .then(({ connectedSystems }) => system.append(...connectedSystems.map((s) => h("option", { value: s.id }, s.name))))
    .catch(() => {});
  load();

  // Any export changing state refreshes the list, at most twice a second.
  let timer = null;
  const stop = subscribe(
    `subscription { pendingExportChanged { id status } }`,
    {},
    {
      next: () => {
        timer ??= setTimeout(() => {
          timer = null;
          load();
        }, 500);
      },
    },
  );
  return () => {
    clearTimeout(timer);
    stop();
  };
}
