// Inline SVG charts: a horizontal bar chart and a multi-series line chart (with shaded
// bands, e.g. prediction intervals). Drawn here so the UI needs no chart library and no CDN.

import { fmtNum, h, svg } from "./dom.js";

const PALETTE = [
  "#2563eb", "#e4572e", "#17a398", "#9c6ade", "#f2a541",
  "#5c7c8a", "#d1495b", "#8a6d3b", "#2bb0ed", "#7cb518",
];
// For lines beside a highlighted one drawn in colour(0): twelve hues, none of them its blue.
const OTHERS = [
  "#e4572e", "#17a398", "#9c6ade", "#f2a541", "#5c7c8a", "#d1495b",
  "#8a6d3b", "#7cb518", "#e377c2", "#bcbd22", "#8c564b", "#17becf",
];
const DASHES = ["5 4", "1.5 3", "9 3 2 3"];

export function colour(i) {
  return PALETTE[i % PALETTE.length];
}

// The i-th of several lines drawn beside one in colour(0): a colour none of the others
// (and not the highlighted one) has, and past twelve lines a different dash as well.
export function otherLine(i) {
  return {
    colour: OTHERS[i % OTHERS.length],
    dash: DASHES[Math.floor(i / OTHERS.length) % DASHES.length],
  };
}

function niceTicks(lo, hi, count = 5) {
  if (lo === hi) {
    const pad = Math.abs(lo) || 1;
    return niceTicks(lo - pad, hi + pad, count);
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  // From a multiple of the step at or below lo to one at or above hi: the data fits inside.
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  const ticks = [];
  for (let i = first; i <= last; i += 1) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

// items: [{label, value}]; threshold: {value, label} drawn as a dashed line.
export function barChart(items, { title, threshold, format = fmtNum, max } = {}) {
  const rowH = 26;
  const labelW = Math.min(
    180,
    Math.max(60, ...items.map((i) => String(i.label).length * 7.5 + 12)),
  );
  const width = 540;
  const plotW = width - labelW - 60;
  const height = items.length * rowH + 34;
  const values = items.map((i) => i.value ?? 0);
  const lo = Math.min(0, ...values);
  const hi = Math.max(max ?? 0, ...values, threshold?.value ?? 0) || 1;
  const x = (v) => labelW + ((v - lo) / (hi - lo)) * plotW;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: "chart",
    role: "img",
    "aria-label": title || "bar chart",
  });
  for (const t of niceTicks(lo, hi, 4)) {
    if (t < lo || t > hi) continue;
    chart.append(
      svg("line", { x1: x(t), x2: x(t), y1: 4, y2: height - 24, class: "grid" }),
      svg("text", { x: x(t), y: height - 8, class: "tick", "text-anchor": "middle" }, format(t)),
    );
  }
  items.forEach((item, i) => {
    const y = 6 + i * rowH;
    const v = item.value ?? 0;
    const x0 = x(Math.min(0, v));
    const w = Math.max(1, Math.abs(x(v) - x(0)));
    chart.append(
      svg("text", { x: labelW - 8, y: y + 15, class: "label", "text-anchor": "end" }, item.label),
      svg(
        "rect",
        { x: x0, y, width: w, height: rowH - 8, rx: 3, fill: item.colour || colour(0) },
        svg("title", {}, `${item.label}: ${format(v)}`),
      ),
      svg(
        "text",
        { x: Math.max(x(v), x(0)) + 6, y: y + 14, class: "value" },
        item.value === null || item.value === undefined ? "n/a" : format(v),
      ),
    );
  });
  chart.append(svg("line", { x1: x(0), x2: x(0), y1: 2, y2: height - 24, class: "axis" }));
  if (threshold) {
    const tx = x(threshold.value);
    chart.append(
      svg("line", { x1: tx, x2: tx, y1: 2, y2: height - 24, class: "threshold" }),
      svg("text", { x: tx + 4, y: height - 26, class: "threshold-label" }, threshold.label),
    );
  }
  return h("figure", { class: "figure" }, title ? h("figcaption", {}, title) : null, chart);
}

// series: [{name, label, points: [{x: Date|number, y}], dashed | dash}], drawn on one shared
// scale; ``label`` (default ``name``) is what the legend says.
// bands: [{name, colour, opacity, points: [{x, lo, hi}]}], shaded between lo and hi under
// the lines, in the order given (draw the widest first).
export function lineChart(series, { title, yLabel, maxPoints = 1500, bands = [] } = {}) {
  const width = 900;
  const height = 340;
  const m = { l: 64, r: 16, t: 12, b: 40 };
  const drawn = series
    .map((s) => ({ ...s, points: thin(s.points.filter((p) => Number.isFinite(p.y)), maxPoints) }))
    .filter((s) => s.points.length > 0);
  const shaded = bands
    .map((b) => ({
      ...b,
      points: thin(
        b.points.filter((p) => Number.isFinite(p.lo) && Number.isFinite(p.hi) && !Number.isNaN(+p.x)),
        maxPoints,
      ),
    }))
    .filter((b) => b.points.length > 0);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart line",
    role: "img",
    "aria-label": title || "line chart",
  });
  if (drawn.length === 0) return h("p", { class: "muted" }, "No points to draw.");
  const xs = [
    ...drawn.flatMap((s) => s.points.map((p) => +p.x)),
    ...shaded.flatMap((b) => b.points.map((p) => +p.x)),
  ];
  const ys = [
    ...drawn.flatMap((s) => s.points.map((p) => p.y)),
    ...shaded.flatMap((b) => b.points.flatMap((p) => [p.lo, p.hi])),
  ];
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const ticks = niceTicks(Math.min(...ys), Math.max(...ys), 5);
  const [y0, y1] = [ticks[0], ticks[ticks.length - 1]];
  const px = (v) => m.l + ((v - x0) / (x1 - x0 || 1)) * (width - m.l - m.r);
  const py = (v) => height - m.b - ((v - y0) / (y1 - y0 || 1)) * (height - m.t - m.b);
  for (const t of ticks) {
    chart.append(
      svg("line", { x1: m.l, x2: width - m.r, y1: py(t), y2: py(t), class: "grid" }),
      svg("text", { x: m.l - 6, y: py(t) + 4, class: "tick", "text-anchor": "end" }, fmtNum(t, 3)),
    );
  }
  const isTime = drawn[0].points[0].x instanceof Date;
  const xTicks = isTime
    ? timeTicks(x0, x1)
    : niceTicks(x0, x1, 5).filter((v) => v >= x0 && v <= x1).map((v) => ({ v, label: fmtNum(v, 3) }));
  for (const { v, label } of xTicks) {
    const at = px(v);
    const anchor = at < m.l + 24 ? "start" : at > width - m.r - 24 ? "end" : "middle";
    chart.append(
      svg("line", { x1: at, x2: at, y1: height - m.b, y2: height - m.b + 5, class: "axis", "data-x-tick": label }),
      svg("text", { x: at, y: height - m.b + 18, class: "tick", "text-anchor": anchor }, label),
    );
  }
  if (yLabel) {
    chart.append(
      svg(
        "text",
        { x: 14, y: m.t + (height - m.t - m.b) / 2, class: "tick", transform: `rotate(-90 14 ${m.t + (height - m.t - m.b) / 2})`, "text-anchor": "middle" },
        yLabel,
      ),
    );
  }
  for (const b of shaded) {
    // The upper edge left to right, then the lower edge back: one closed area.
    const upper = b.points.map((p, j) => `${j ? "L" : "M"}${px(+p.x).toFixed(1)},${py(p.hi).toFixed(1)}`);
    const lower = [...b.points].reverse().map((p) => `L${px(+p.x).toFixed(1)},${py(p.lo).toFixed(1)}`);
    chart.append(
      svg(
        "path",
        {
          d: `${upper.join("")}${lower.join("")}Z`,
          class: "band",
          fill: b.colour || colour(0),
          "fill-opacity": b.opacity ?? 0.2,
          "data-band": b.name,
        },
        svg("title", {}, b.name),
      ),
    );
  }
  drawn.forEach((s, i) => {
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${px(+p.x).toFixed(1)},${py(p.y).toFixed(1)}`);
    chart.append(
      svg("path", {
        d: d.join(""),
        class: "series",
        stroke: s.colour || colour(i),
        "stroke-dasharray": s.dash || (s.dashed ? "5 4" : null),
        "stroke-width": s.width || 1.6,
        "data-series": s.name,
      }),
    );
  });
  const legend = h(
    "div",
    { class: "legend" },
    drawn.map((s, i) =>
      h(
        "span",
        {},
        h("i", { style: `background:${s.colour || colour(i)}` }),
        s.label || s.name,
      ),
    ),
    shaded.map((b) =>
      h(
        "span",
        {},
        h("i", { class: "band", style: `background:${b.colour || colour(0)};opacity:${b.opacity ?? 0.2}` }),
        b.name,
      ),
    ),
  );
  return h("figure", { class: "figure" }, title ? h("figcaption", {}, title) : null, chart, legend);
}

function thin(points, most) {
  if (points.length <= most) return points;
  const stride = points.length / most;
  return Array.from({ length: most }, (_, i) => points[Math.floor(i * stride)]);
}

// Calendar steps, shortest first: [unit, how many, label length of the ISO string].
const MINUTE = 60000;
const DAY = 1440 * MINUTE;
const TIME_STEPS = [
  ...[1, 2, 5, 10, 15, 30].map((n) => ["minute", n, n * MINUTE]),
  ...[1, 2, 3, 6, 12].map((n) => ["hour", n, n * 60 * MINUTE]),
  ...[1, 2, 7, 14].map((n) => ["day", n, n * DAY]),
  ...[1, 2, 3, 6].map((n) => ["month", n, n * 30.4 * DAY]),
  ...[1, 2, 5, 10, 20, 50, 100].map((n) => ["year", n, n * 365.25 * DAY]),
];

// Ticks on calendar boundaries (UTC, as the data's timestamps are read): the first of a
// month or a year, midnight, a round hour; at most about seven of them.
export function timeTicks(x0, x1, most = 7) {
  const [unit, n] = TIME_STEPS.find(([, , ms]) => (x1 - x0) / ms <= most) || TIME_STEPS[TIME_STEPS.length - 1];
  const d = new Date(x0);
  // Start at the unit's boundary at or before x0, aligned to multiples of n.
  if (unit === "year") d.setUTCFullYear(Math.floor(d.getUTCFullYear() / n) * n, 0, 1);
  if (unit === "month") d.setUTCMonth(Math.floor(d.getUTCMonth() / n) * n, 1);
  if (unit === "year" || unit === "month" || unit === "day") d.setUTCHours(0, 0, 0, 0);
  if (unit === "hour") d.setUTCHours(Math.floor(d.getUTCHours() / n) * n, 0, 0, 0);
  if (unit === "minute") d.setUTCMinutes(Math.floor(d.getUTCMinutes() / n) * n, 0, 0);
  const ticks = [];
  for (let guard = 0; guard < 1000 && +d <= x1; guard += 1) {
    if (+d >= x0) ticks.push({ v: +d, label: fmtTime(d, unit) });
    if (unit === "year") d.setUTCFullYear(d.getUTCFullYear() + n);
    else if (unit === "month") d.setUTCMonth(d.getUTCMonth() + n);
    else if (unit === "day") d.setUTCDate(d.getUTCDate() + n);
    else if (unit === "hour") d.setUTCHours(d.getUTCHours() + n);
    else d.setUTCMinutes(d.getUTCMinutes() + n);
  }
  return ticks;
}

function fmtTime(d, unit) {
  const iso = d.toISOString();
  if (unit === "year") return iso.slice(0, 4);
  if (unit === "month") return iso.slice(0, 7);
  if (unit === "day") return iso.slice(0, 10);
  return iso.slice(5, 16).replace("T", " ");
}
