// Tiny DOM helpers. Every value from the server goes in as text, never as HTML.

/** h("tr", { class: "x", onclick: fn, dataset: { id } }, child, "text", [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "class") el.className = value;
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export function fmtDuration(fromIso, toIso) {
  if (!fromIso) return "—";
  const ms = (toIso ? new Date(toIso) : new Date()) - new Date(fromIso);
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export const FINAL_STATUSES = new Set(["COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "BLOCKED"]);

export function statusBadge(status) {
  return h("span", { class: `badge status-${status.toLowerCase()}`, dataset: { status } }, status.replaceAll("_", " "));
}

export function errorBox(err) {
  const code = err?.code ? ` (${err.code})` : "";
  return h("p", { class: "error", role: "alert" }, `${err?.message ?? err}${code}`);
}

export function label(text, control) {
  return h("label", {}, h("span", {}, text), control);
}

export function select(name, options, value) {
  return h(
    "select",
    { name },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
  );
}

/** A compact, readable rendering of attribute values (strings, arrays, objects). */
export function fmtValue(value) {
  if (value === undefined || value === null) return "—";
  if (Array.isArray(value)) return value.map(fmtValue).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The uuid inside a Relay global id ("Type:uuid" in base64); the API accepts either, some JSON fields hold the raw one. */
export function rawId(id) {
  try {
    const decoded = atob(id);
    const i = decoded.indexOf(":");
    return i > 0 ? decoded.slice(i + 1) : id;
  } catch {
    return id;
  }
}
