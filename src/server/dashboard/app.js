// The dashboard shell: API key form, live indicator, hash routes -> views.
// Each view renders into <main> and returns a cleanup function (its subscriptions end there).

import { exportsView } from "./exports.js";
import { getApiKey, onApiKeyChange, onSocketState, setApiKey } from "./gql.js";
import { objectDetailView, objectsView } from "./objects.js";
import { runDetailView } from "./run-detail.js";
import { overviewView } from "./runs.js";

const routes = [
  [/^\/?$/, "runs", () => overviewView],
  [/^\/runs\/([^/]+)$/, "runs", () => runDetailView],
  [/^\/exports$/, "exports", () => exportsView],
  [/^\/objects$/, "objects", () => objectsView],
  [/^\/objects\/([^/]+)$/, "objects", () => objectDetailView],
];

const main = document.getElementById("main");
let cleanup = () => {};

function render() {
  const path = decodeURIComponent(location.hash.replace(/^#/, "").split("?")[0] ?? "");
  cleanup();
  cleanup = () => {};
  for (const [pattern, section, view] of routes) {
    const match = pattern.exec(path);
    if (!match) continue;
    for (const a of document.querySelectorAll("[data-nav]"))
      a.toggleAttribute("aria-current", a.dataset.nav === section) || a.removeAttribute("aria-current");
    main.replaceChildren();
    cleanup = view()(main, match.slice(1)) ?? (() => {});
    return;
  }
  main.replaceChildren();
  main.append(Object.assign(document.createElement("p"), { textContent: "Nothing here. " }));
}

window.addEventListener("hashchange", () => {
  render();
  main.focus({ preventScroll: true });
});

// API key: kept in sessionStorage only (gone with the tab), sent as Bearer and as connection params.
const keyInput = document.getElementById("api-key");
keyInput.value = getApiKey();
document.getElementById("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  setApiKey(keyInput.value.trim());
});
document.getElementById("key-clear").addEventListener("click", () => {
  keyInput.value = "";
  setApiKey("");
});
onApiKeyChange(render);

const live = document.getElementById("live");
onSocketState((state, detail) => {
  live.textContent = state === "live" ? "● live" : state === "connecting" ? "connecting…" : state;
  live.className = `live live-${state}`;
  live.title = detail || state;
});

render();
