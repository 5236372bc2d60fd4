// Run throughput and duration over time, as an inline SVG drawn here. Why no charting library:
// the dashboard has no build step and a strict CSP (no inline styles or scripts from elsewhere);
// two small panes of dots and bars are ~100 lines, where a library would be a vendored file
// larger than the whole dashboard. Colours come from style.css classes, so dark mode follows.

const SVG = "http://www.w3.org/2000/svg";
const W = 760;
const PANE = 90;
const LEFT = 64;
const RIGHT = 12;
const TOP = 18;
const GAP = 34;
const H = TOP + PANE + GAP + PANE + 26;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children)
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Seconds a finished run took, and the objects it processed per second of that. */
export function runPoint(run) {
  const seconds = Math.max((new Date(run.finishedAt) - new Date(run.startedAt)) / 1000, 0.001);
  const objects = Math.max(run.progress?.processed ?? 0, run.counts?.fetched ?? 0);
  return { run, seconds, objects, perSecond: objects / seconds };
}

const nice = (n) => (n >= 100 ? Math.round(n).toLocaleString() : n >= 10 ? n.toFixed(0) : n.toFixed(1));

/**
 * Finished runs (any order; those without start and finish times are left out), oldest left:
 * objects per second above, duration below, one column per run, labelled with its finish time.
 */
export function runChart(runs) {
  const points = runs
    .filter((r) => r.startedAt && r.finishedAt)
    .sort((a, b) => (a.finishedAt < b.finishedAt ? -1 : a.finishedAt > b.finishedAt ? 1 : 0))
    .map(runPoint);
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "run-chart",
    role: "img",
    "aria-label": `Throughput and duration of the last ${points.length} finished runs`,
  });
  if (!points.length) {
    svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-label" }, "No finished runs yet."));
    return svg;
  }
  const step = (W - LEFT - RIGHT) / points.length;
  const x = (i) => LEFT + step * (i + 0.5);
  const maxRate = Math.max(...points.map((p) => p.perSecond), 1);
  const maxSeconds = Math.max(...points.map((p) => p.seconds), 0.001);
  const rateY = (v) => TOP + PANE - (v / maxRate) * PANE;
  const durTop = TOP + PANE + GAP;
  const durY = (v) => durTop + PANE - (v / maxSeconds) * PANE;

  const axis = (y0, label, max, unit) => [
    s("line", { x1: LEFT, x2: W - RIGHT, y1: y0 + PANE, y2: y0 + PANE, class: "chart-axis" }),
    s("line", { x1: LEFT, x2: W - RIGHT, y1: y0, y2: y0, class: "chart-grid" }),
    s("text", { x: LEFT - 6, y: y0 + 4, "text-anchor": "end", class: "chart-label" }, `${nice(max)}${unit}`),
    s("text", { x: LEFT - 6, y: y0 + PANE, "text-anchor": "end", class: "chart-label" }, "0"),
    s("text", { x: LEFT, y: y0 - 5, class: "chart-title" }, label),
  ];
  svg.append(...axis(TOP, "objects / second", maxRate, "/s"), ...axis(durTop, "duration", maxSeconds, " s"));

  const line = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${rateY(p.perSecond).toFixed(1)}`).join(" ");
  svg.append(s("path", { d: line, class: "chart-line" }));
  const barWidth = Math.max(Math.min(step * 0.7, 24), 1);
  points.forEach((p, i) => {
    const status = p.run.status.toLowerCase();
    const tip = `${p.run.connectedSystem?.name ?? ""} ${p.run.profile} ${p.run.status}: ${p.objects} objects in ${p.seconds.toFixed(1)} s (${nice(p.perSecond)}/s), finished ${new Date(p.run.finishedAt).toLocaleString()}`;
    const data = { "data-run-id": p.run.id, "data-objects": p.objects, "data-seconds": p.seconds.toFixed(3) };
    svg.append(
      s("circle", { cx: x(i), cy: rateY(p.perSecond), r: 3.5, class: `chart-dot run-${status}`, ...data }, s("title", {}, tip)),
      s(
        "rect",
        {
          x: x(i) - barWidth / 2,
          y: durY(p.seconds),
          width: barWidth,
          height: Math.max(durTop + PANE - durY(p.seconds), 1),
          class: `chart-bar run-${status}`,
          ...data,
        },
        s("title", {}, tip),
      ),
    );
  });
  // Time labels: the first, middle and last run's finish time.
  const labelled = [...new Set([0, Math.floor((points.length - 1) / 2), points.length - 1])];
  for (const i of labelled)
    svg.append(
      s(
        "text",
        { x: x(i), y: H - 8, "text-anchor": "middle", class: "chart-label" },
        new Date(points[i].run.finishedAt).toLocaleTimeString(),
      ),
    );
  return svg;
}
