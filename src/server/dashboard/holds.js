// Mass-change breaker: open holds (a sync run's exports to a system held with the figures) with
// release / partial release / reject, and a short text of the limits in force for a system.
import { clear, errorBox, fmtTime, h, label, select } from "./dom.js";
import { gql } from "./gql.js";

const HOLDS = `query { breakerHolds(open: true, first: 20) {
  id reason isDefault held awaitingApproval createdAt syncRuleId
  connectedSystem { id name } run { id profile connectedSystem { name } }
} }`;

/** The limits a system's breaker puts in force, in a few words (the overview's systems table). */
export function breakerText(b) {
  if (!b?.enabled) return "breaker off";
  const parts = [];
  for (const kind of ["Create", "Update", "Delete"]) {
    const n = b[`max${kind}s`];
    const pct = b[`max${kind}Percent`];
    const limits = [n !== null ? `${n}` : null, pct !== null ? `${pct}%` : null].filter(Boolean);
    if (limits.length) parts.push(`${kind.toLowerCase()}s > ${limits.join(" or ")}`);
  }
  for (const a of b.attributes ?? []) parts.push(`${a.name} > ${a.maxChangePercent}%`);
  return `${b.isDefault ? "default breaker" : "breaker"}: holds ${parts.join(", ") || "nothing"}`;
}

/** The section; `refresh()` reloads it (the exports view calls it on every export change). */
export function holdsSection() {
  const body = h("div", { id: "breaker-holds-list" });
  const message = h("div", { "aria-live": "polite" });
  const section = h(
    "section",
    { "aria-labelledby": "holds-h", id: "breaker-holds" },
    h("h2", { id: "holds-h" }, "Breaker holds"),
    h(
      "p",
      { class: "muted" },
      "A sync run that planned more changes to a system than its mass-change breaker allows waits here (by default: deletes above 500 or 5% of the system).",
    ),
    message,
    body,
  );

  async function refresh() {
    let holds;
    try {
      ({ breakerHolds: holds } = await gql(HOLDS));
    } catch (err) {
      clear(body, errorBox(err));
      return;
    }
    section.hidden = holds.length === 0 && !message.textContent;
    clear(
      body,
      holds.length === 0
        ? h("p", { class: "muted" }, "No run is held.")
        : h(
            "table",
            {},
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["System", "Run", "Reason", "Waiting", "Held at", ""].map((t) => h("th", { scope: "col" }, t)),
              ),
            ),
            h("tbody", {}, holds.map(row)),
          ),
    );
  }

  function row(hold) {
    const part = select(
      "part",
      [
        ["", "all"],
        ["CREATE", "creates"],
        ["UPDATE", "updates"],
        ["DELETE", "deletes"],
      ],
      "",
    );
    return h(
      "tr",
      { dataset: { holdId: hold.id } },
      h("td", {}, h("strong", {}, hold.connectedSystem.name), hold.isDefault ? h("span", { class: "tag" }, " default") : null),
      h(
        "td",
        {},
        h(
          "a",
          { href: `#/runs/${encodeURIComponent(hold.run.id)}` },
          `${hold.run.profile.replaceAll("_", " ").toLowerCase()} of ${hold.run.connectedSystem.name}`,
        ),
      ),
      h("td", { class: "hold-reason" }, hold.reason),
      h("td", {}, `${hold.awaitingApproval} of ${hold.held}`),
      h("td", {}, fmtTime(hold.createdAt)),
      h(
        "td",
        { class: "inline-form" },
        label("Part", part),
        h("button", { type: "button", onclick: () => decide(hold, "approve", part.value) }, "Release"),
        h("button", { type: "button", class: "danger", onclick: () => decide(hold, "reject", part.value) }, "Reject"),
      ),
    );
  }

  async function decide(hold, action, changeType) {
    const what = changeType ? `${changeType.toLowerCase()}s` : "exports";
    if (action === "reject" && !confirm(`Reject the held ${what} of this run? They will not be applied.`)) return;
    const field = action === "approve" ? "approvePendingExports" : "rejectPendingExports";
    try {
      const data = await gql(`mutation ($run: ID, $f: PendingExportFilter) { ${field}(runId: $run, filter: $f) }`, {
        run: hold.run.id,
        // Reject only what the hold keeps waiting: the run's exports already released stay as they are.
        f: { connectedSystemId: hold.connectedSystem.id, changeType: changeType || null, status: "AWAITING_APPROVAL" },
      });
      clear(message, h("p", { class: "ok" }, `${data[field]} held ${what} ${action === "approve" ? "released" : "rejected"}.`));
      await refresh();
    } catch (err) {
      clear(message, errorBox(err));
    }
  }

  return { section, refresh };
}
