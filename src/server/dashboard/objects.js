// Metaverse objects: search by one attribute (equals / starts with), then an object's attributes,
// connectors and history (which run changed what, and from which system).
import { clear, errorBox, fmtTime, fmtValue, h, label, rawId, select } from "./dom.js";
import { gql } from "./gql.js";
import { summariseChanges } from "./run-detail.js";

const SEARCH = `query ($type: String, $where: AttributeFilter, $first: Int, $after: String) {
  metaverseObjects(type: $type, where: $where, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id type displayName status updatedAt } }
  }
}`;

const OBJECT = `query ($id: ID!) {
  metaverseObject(id: $id) {
    id type displayName status attributes contributions deletionDueAt createdAt updatedAt
    connectors { id objectType anchor distinguishedName status joinType joinedAt connectedSystem { id name } }
    explain {
      values { attribute systemName ruleName runId runProfile runFinishedAt precedence reason }
      provisioning { ruleName systemName enabled inScope state reason openExports { changeType status } }
    }
    history(first: 200) { runId changeType attributeChanges sourceSystemId connectorSpaceObjectId message createdAt }
  }
  connectedSystems { id name }
}`;

// The search is kept in the URL (#/objects?attribute=..&mode=..&value=..) so a back button returns to it.
let lastSearch = "";
function searchParams() {
  return new URLSearchParams(location.hash.split("?")[1] ?? "");
}

export function objectsView(main) {
  const params = searchParams();
  lastSearch = params.size ? `?${params}` : "";
  const type = h("input", { name: "type", placeholder: "any", value: params.get("type") ?? "", size: 10 });
  const attribute = h("input", { name: "attribute", placeholder: "e.g. mail", value: params.get("attribute") ?? "", size: 14 });
  const mode = select(
    "mode",
    [
      ["startsWith", "starts with"],
      ["equals", "equals"],
    ],
    params.get("mode") ?? "startsWith",
  );
  const value = h("input", { name: "value", value: params.get("value") ?? "", size: 18 });
  const body = h("tbody");
  const info = h("span", { class: "muted" });
  const more = h("button", { type: "button", hidden: true, onclick: () => search(true) }, "Load more");
  let cursor = null;

  main.append(
    h(
      "section",
      { "aria-labelledby": "objects-h" },
      h("h2", { id: "objects-h" }, "Metaverse objects ", info),
      h(
        "form",
        { class: "inline-form", id: "object-search", onsubmit: (e) => submit(e) },
        label("Type", type),
        label("Attribute", attribute),
        label("Match", mode),
        label("Value", value),
        h("button", { type: "submit" }, "Search"),
      ),
      h(
        "table",
        { id: "objects" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Name", "Type", "Status", "Updated"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        body,
      ),
      more,
    ),
  );

  function submit(e) {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of [
      ["type", type.value.trim()],
      ["attribute", attribute.value.trim()],
      ["mode", mode.value],
      ["value", value.value],
    ])
      if (v) q.set(k, v);
    lastSearch = `?${q}`;
    history.replaceState(null, "", `#/objects${lastSearch}`);
    search();
  }

  async function search(append = false) {
    const where = attribute.value.trim() ? { attribute: attribute.value.trim(), [mode.value]: value.value } : null;
    try {
      const { metaverseObjects: page } = await gql(SEARCH, {
        type: type.value.trim() || null,
        where,
        first: 50,
        after: append ? cursor : null,
      });
      cursor = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
      info.textContent = `(${page.totalCount})`;
      const rows = page.edges.map(({ node: o }) =>
        h(
          "tr",
          { dataset: { objectId: o.id } },
          h("td", {}, h("a", { href: `#/objects/${encodeURIComponent(o.id)}` }, o.displayName ?? o.id)),
          h("td", {}, o.type),
          h("td", {}, o.status),
          h("td", {}, fmtTime(o.updatedAt)),
        ),
      );
      if (append) body.append(...rows);
      else clear(body, rows.length ? rows : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No objects match.")));
    } catch (err) {
      clear(body, h("tr", {}, h("td", { colspan: 4 }, errorBox(err))));
    }
  }

  search();
}

export function objectDetailView(main, [id]) {
  main.append(h("p", {}, h("a", { href: `#/objects${lastSearch}` }, "← Objects")));
  const content = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  main.append(content);

  gql(OBJECT, { id })
    .then(({ metaverseObject: o, connectedSystems }) => {
      if (!o) return clear(content, h("p", {}, "This object does not exist (any more)."));
      const systemName = new Map(
        connectedSystems.flatMap((s) => [
          [s.id, s.name],
          [rawId(s.id), s.name],
        ]),
      );
      const attrNames = Object.keys(o.attributes).sort();
      const provenance = new Map(o.explain.values.map((v) => [v.attribute, v]));
      clear(
        content,
        h("h2", {}, o.displayName ?? o.id, " ", h("span", { class: "tag" }, o.type), " ", h("span", { class: "tag" }, o.status)),
        h(
          "p",
          { class: "muted" },
          `created ${fmtTime(o.createdAt)} · updated ${fmtTime(o.updatedAt)}`,
          o.deletionDueAt ? ` · deletion due ${fmtTime(o.deletionDueAt)}` : "",
        ),
        h(
          "section",
          { "aria-labelledby": "attrs-h" },
          h("h3", { id: "attrs-h" }, "Attributes"),
          h(
            "table",
            {},
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Attribute", "Value", "Set by"].map((t) => h("th", { scope: "col" }, t)),
              ),
            ),
            h(
              "tbody",
              {},
              attrNames.map((name) => {
                const c = o.contributions?.[name];
                const why = provenance.get(name);
                return h(
                  "tr",
                  { dataset: { attribute: name } },
                  h("th", { scope: "row" }, name),
                  h("td", {}, fmtValue(o.attributes[name])),
                  h(
                    "td",
                    { class: "muted", title: why?.reason ?? "" },
                    why?.systemName ?? (c?.systemId ? (systemName.get(c.systemId) ?? c.systemId) : ""),
                    why?.ruleName ? [" · rule ", h("code", {}, why.ruleName)] : null,
                    c?.runId
                      ? [
                          " · ",
                          h(
                            "a",
                            { href: `#/runs/${encodeURIComponent(c.runId)}` },
                            why?.runProfile ? `${why.runProfile.replaceAll("_", " ").toLowerCase()} run` : "run",
                          ),
                          why?.runFinishedAt ? ` ${fmtTime(why.runFinishedAt)}` : "",
                        ]
                      : null,
                  ),
                );
              }),
            ),
          ),
        ),
        provisioningSection(o.explain.provisioning),
        h(
          "section",
          { "aria-labelledby": "connectors-h" },
          h("h3", { id: "connectors-h" }, "Connectors"),
          o.connectors.length === 0
            ? h("p", { class: "muted" }, "Not joined to any connected system.")
            : h(
                "table",
                {},
                h(
                  "thead",
                  {},
                  h(
                    "tr",
                    {},
                    ["System", "Type", "Anchor / DN", "Join", "Status"].map((t) => h("th", { scope: "col" }, t)),
                  ),
                ),
                h(
                  "tbody",
                  {},
                  o.connectors.map((c) =>
                    h(
                      "tr",
                      {},
                      h("td", {}, c.connectedSystem.name),
                      h("td", {}, c.objectType),
                      h("td", {}, h("code", {}, c.distinguishedName ?? c.anchor)),
                      h(
                        "td",
                        {},
                        c.joinType ?? "—",
                        c.joinedAt ? h("span", { class: "muted" }, ` ${fmtTime(c.joinedAt)}`) : null,
                      ),
                      h("td", {}, c.status),
                    ),
                  ),
                ),
              ),
        ),
        h(
          "section",
          { "aria-labelledby": "history-h" },
          h("h3", { id: "history-h" }, "History"),
          o.history.length === 0
            ? h("p", { class: "muted" }, "No recorded changes.")
            : h(
                "table",
                { id: "history" },
                h(
                  "thead",
                  {},
                  h(
                    "tr",
                    {},
                    ["At", "Change", "Attributes", "Source", "Run"].map((t) => h("th", { scope: "col" }, t)),
                  ),
                ),
                h(
                  "tbody",
                  {},
                  o.history.map((e) =>
                    h(
                      "tr",
                      {},
                      h("td", {}, fmtTime(e.createdAt)),
                      h("td", {}, h("span", { class: `tag change-${e.changeType.toLowerCase()}` }, e.changeType)),
                      h(
                        "td",
                        { class: "attrs" },
                        summariseChanges(e.attributeChanges),
                        e.message ? h("div", { class: "muted" }, e.message) : null,
                      ),
                      h("td", {}, e.sourceSystemId ? (systemName.get(e.sourceSystemId) ?? e.sourceSystemId) : "—"),
                      h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(e.runId)}` }, "open run")),
                    ),
                  ),
                ),
              ),
        ),
      );
    })
    .catch((err) => clear(content, errorBox(err)));
}

// Why the identity is (not) in each target: one row per outbound rule, its scope's verdict and
// what followed (provisioned, joined, a CREATE waiting, or why nothing was planned).
function provisioningSection(decisions) {
  return h(
    "section",
    { "aria-labelledby": "provisioning-h", id: "provisioning" },
    h("h3", { id: "provisioning-h" }, "Provisioning"),
    decisions.length === 0
      ? h("p", { class: "muted" }, "No outbound sync rule exists: nothing is provisioned anywhere.")
      : h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Target", "Rule", "In scope", "State", "Why"].map((t) => h("th", { scope: "col" }, t)),
            ),
          ),
          h(
            "tbody",
            {},
            decisions.map((d) =>
              h(
                "tr",
                { dataset: { rule: d.ruleName, state: d.state, inScope: String(d.inScope) } },
                h("td", {}, d.systemName),
                h("td", {}, h("code", {}, d.ruleName), d.enabled ? null : h("span", { class: "tag" }, " disabled")),
                h("td", { class: d.inScope ? "in-scope" : "out-of-scope" }, d.inScope ? "yes" : "no"),
                h("td", {}, h("span", { class: "tag" }, d.state.replaceAll("_", " ").toLowerCase())),
                h("td", { class: "attrs" }, d.reason),
              ),
            ),
          ),
        ),
  );
}
