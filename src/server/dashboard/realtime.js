// Real-time strip: every system taking pushes, with what waits in its inbox (depth, oldest age),
// live from the inboxChanged subscription. Hidden while no system has real-time on.
import { clear, h, rawId } from "./dom.js";
import { gql, subscribe } from "./gql.js";

const SYSTEMS = `query { connectedSystems { id name realtime { enabled watch } inbox { depth oldestAgeMs } } }`;
const CHANGES = `subscription { inboxChanged { connectedSystemId depth oldestAgeMs } }`;

const age = (ms) => (ms === null || ms === undefined ? "" : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** The section and its stop(); `reload()` after systems change. */
export function realtimeStrip() {
  const body = h("div", { class: "realtime-flow", id: "realtime-flow" });
  const section = h(
    "section",
    { "aria-labelledby": "realtime-h", id: "realtime", hidden: true },
    h("h2", { id: "realtime-h" }, "Real-time"),
    h("p", { class: "muted" }, "Pushed changes waiting to be applied, per system (POST /hooks/<system>; watchers)."),
    body,
  );
  const cells = new Map();

  function show(id, depth, oldestAgeMs) {
    const cell = cells.get(id);
    if (!cell) return;
    cell.depth.textContent = String(depth);
    cell.age.textContent = depth ? `oldest ${age(oldestAgeMs)}` : "all applied";
    cell.box.dataset.depth = String(depth);
    cell.box.classList.toggle("busy", depth > 0);
    cell.when.textContent = new Date().toLocaleTimeString();
  }

  async function reload() {
    let systems;
    try {
      ({ connectedSystems: systems } = await gql(SYSTEMS));
    } catch {
      return;
    }
    const live = systems.filter((s) => s.realtime?.enabled);
    section.hidden = live.length === 0;
    cells.clear();
    clear(
      body,
      live.map((s) => {
        const cell = {
          depth: h("strong", { class: "depth" }),
          age: h("span", { class: "muted" }),
          when: h("span", { class: "muted when" }),
        };
        cell.box = h(
          "div",
          { class: "flow", dataset: { systemName: s.name } },
          h("div", {}, s.name, s.realtime.watch ? h("span", { class: "tag" }, " watched") : null),
          h("div", {}, cell.depth, " waiting "),
          h("div", {}, cell.age),
          h("div", {}, cell.when),
        );
        cells.set(rawId(s.id), cell);
        return cell.box;
      }),
    );
    for (const s of live) show(rawId(s.id), s.inbox.depth, s.inbox.oldestAgeMs);
  }

  const stop = subscribe(
    CHANGES,
    {},
    {
      next: ({ data }) => {
        const c = data?.inboxChanged;
        if (c) show(rawId(c.connectedSystemId), c.depth, c.oldestAgeMs);
      },
      error: () => {},
      complete: () => {},
    },
  );
  reload();
  return { section, reload, stop };
}
