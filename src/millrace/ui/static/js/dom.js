// DOM helpers. Everything the API returns is inserted as text, never as HTML, so a
// dataset column called "<script>" stays a harmless string.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// h("a", {href: "#/x", class: "btn"}, "text", otherNode)
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function fmtNum(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i += 1;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtDate(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString("en-GB", {
    year: "numeric",
    month: "short",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return rest ? `${m} min ${rest} s` : `${m} min`;
}

export function seconds(startIso, endIso) {
  if (!startIso) return null;
  const end = endIso ? new Date(endIso) : new Date();
  return (end - new Date(startIso)) / 1000;
}

// A table from rows of objects; `columns` is a list of keys or [key, label, render].
export function table(rows, columns, { empty = "Nothing yet.", cls = "" } = {}) {
  if (!rows || rows.length === 0) return h("p", { class: "muted" }, empty);
  const cols = (columns || Object.keys(rows[0])).map((c) =>
    Array.isArray(c) ? c : [c, c, null],
  );
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: cls },
      h("thead", {}, h("tr", {}, cols.map(([, label]) => h("th", {}, label)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            cols.map(([key, , render]) => {
              const value = render ? render(row[key], row) : fmtNum(row[key]);
              const numeric = typeof row[key] === "number" && !render;
              return h("td", { class: numeric ? "num" : null }, value);
            }),
          ),
        ),
      ),
    ),
  );
}

export function badge(state) {
  return h("span", { class: `badge state-${state}`, "data-state": state }, state.replace("_", " "));
}

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}

export function errorBox(err) {
  return h("div", { class: "alert error", role: "alert" }, err.message || String(err));
}

// A short-lived message in the corner; tests read it from [data-toast].
export function toast(message, kind = "ok") {
  const el = h("div", { class: `toast ${kind}`, role: "status", "data-toast": kind }, message);
  document.body.append(el);
  setTimeout(() => el.remove(), 4000);
}

export function kv(pairs) {
  return h(
    "dl",
    { class: "kv" },
    pairs
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v instanceof Node ? v : fmtNum(v)))),
  );
}
