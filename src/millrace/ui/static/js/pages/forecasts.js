// Forecasting runs: each `<dataset>-forecast` model's evaluation (every candidate on the
// same validation and test windows) and its inference log drawn as actuals vs forecasts.
// The run's attributes are read tolerantly: a run without an evaluation or a log still
// shows what it has.

import { ApiError, api, apiHead, enc } from "../api.js";
import { barChart, colour, lineChart } from "../charts.js";
import { card, fmtDate, fmtNum, h, kv, table } from "../dom.js";

const LOG = "inference.jsonl";
const MAX_LOG_BYTES = 8 * 1024 * 1024;

function isForecast(model, champions) {
  return model.id.endsWith("-forecast") || champions.some((c) => c.model_id === model.id && c.kind === "forecasting");
}

export async function forecastsPage() {
  const [champions, stored] = await Promise.all([
    api("/api/v1/registry/models"),
    api("/api/v1/ai-models?limit=500"),
  ]);
  const runs = stored.items.filter((m) => isForecast(m, champions));
  const pipelineOnly = champions.filter((c) => c.kind === "forecasting" && !runs.some((m) => m.id === c.model_id));
  return h(
    "div",
    {},
    h("h1", {}, "Forecasting runs"),
    card(
      null,
      table(
        runs,
        [
          ["id", "Model", (id) => h("a", { href: `#/forecasts/${enc(id)}`, "data-forecast": id }, id)],
          ["name", "Name", (n) => n],
          ["latest_version", "Runs", (v) => (v ? `${v}` : "–")],
          ["updated_at", "Last run", fmtDate],
        ],
        { empty: "No forecasting runs yet: start a journey with task type forecasting on a time series." },
      ),
      pipelineOnly.length
        ? [
            h("h3", {}, "Pipeline champions (MLflow only)"),
            table(pipelineOnly, [
              ["model_id", "Model", (id) => h("a", { href: `#/models/${enc(id)}` }, id)],
              ["champion_version", "Champion", (v) => `v${v}`],
            ]),
          ]
        : null,
    ),
  );
}

// candidates as {name: {validation, test, score}} or [{name, ...}]: one list either way.
function candidateRows(attrs) {
  const evaluation = attrs.evaluation || attrs;
  const raw = evaluation.candidates || attrs.candidates || {};
  const champion = evaluation.champion || attrs.champion || null;
  const list = Array.isArray(raw) ? raw : Object.entries(raw).map(([name, c]) => ({ name, ...c }));
  return { champion, windows: evaluation.windows || null, rows: list };
}

function metricKeys(rows, part) {
  const keys = new Set();
  for (const r of rows) for (const k of Object.keys(r[part] || {})) keys.add(k);
  const order = ["mae", "rmse", "mse", "smape", "mase", "nrmse"];
  const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
  return [...keys].sort((a, b) => rank(a) - rank(b));
}

function evaluationCard({ champion, windows, rows }) {
  if (rows.length === 0) return card("Evaluation", h("p", { class: "muted" }, "This run has no evaluation."));
  rows.sort((a, b) => (a.score ?? Infinity) - (b.score ?? Infinity));
  const val = metricKeys(rows, "validation");
  const test = metricKeys(rows, "test");
  const cols = [
    ["name", "Candidate", (n) => h("span", {}, n, n === champion ? h("span", { class: "champion" }, " ★ champion") : null)],
    ["score", "Weighted score"],
    ...val.map((k) => [`v_${k}`, `val ${k}`]),
    ...test.map((k) => [`t_${k}`, `test ${k}`]),
    ["train_seconds", "Train s"],
  ];
  const flat = rows.map((r) => {
    const o = { name: r.name, score: r.score, train_seconds: r.train_seconds };
    for (const k of val) o[`v_${k}`] = r.validation?.[k];
    for (const k of test) o[`t_${k}`] = r.test?.[k];
    return o;
  });
  const chartKey = test.includes("rmse") ? "rmse" : test[0];
  return card(
    "Evaluation",
    h(
      "p",
      { class: "muted" },
      "Every candidate is scored on the same rolling windows, on the original scale. The champion is chosen on validation; test is reported, never used to choose.",
      windows ? ` Windows: ${windows.validation} validation, ${windows.test} test, horizon ${windows.horizon}.` : "",
    ),
    table(flat, cols, { cls: "candidates" }),
    chartKey
      ? barChart(
          rows.map((r, i) => ({
            label: r.name,
            value: r.test?.[chartKey] ?? null,
            colour: r.name === champion ? colour(0) : "#9aa5b8",
            i,
          })),
          { title: `Test ${chartKey.toUpperCase()} by candidate (lower is better)` },
        )
      : null,
  );
}

function parseLog(text, truncated) {
  const lines = text.split("\n");
  if (truncated) lines.pop(); // the last line may be cut
  const out = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a malformed line is skipped, not fatal
    }
  }
  return out;
}

function forecastChart(records, champion) {
  const byModel = new Map();
  const actual = new Map();
  for (const r of records) {
    const t = new Date(r.ts);
    if (Number.isNaN(+t)) continue;
    const name = r.model || "forecast";
    if (!byModel.has(name)) byModel.set(name, []);
    byModel.get(name).push({ x: t, y: r.prediction });
    if (typeof r.actual === "number") actual.set(+t, r.actual);
  }
  const series = [];
  if (actual.size) {
    series.push({
      name: "actual",
      colour: "#1d2433",
      width: 2,
      points: [...actual.entries()].sort((a, b) => a[0] - b[0]).map(([x, y]) => ({ x: new Date(x), y })),
    });
  }
  [...byModel.entries()]
    .sort(([a], [b]) => (a === champion ? -1 : b === champion ? 1 : a.localeCompare(b)))
    .forEach(([name, points], i) => {
      points.sort((a, b) => a.x - b.x);
      series.push({
        name: name === champion ? `${name} (champion)` : name,
        colour: name === champion ? colour(0) : colour(i + 1),
        dashed: name !== champion,
        points,
      });
    });
  const errors = records.filter((r) => typeof r.error === "number");
  const mae = errors.length ? errors.reduce((s, r) => s + Math.abs(r.error), 0) / errors.length : null;
  return card(
    "Actuals vs forecasts",
    lineChart(series, { title: "Inference log", yLabel: "value" }),
    kv([
      ["Points", records.length],
      ["Models", [...byModel.keys()].join(", ")],
      ["Mean absolute error in the log", mae === null ? "–" : fmtNum(mae)],
    ]),
  );
}

export async function forecastPage(modelId) {
  const model = await api(`/api/v1/ai-models/${enc(modelId)}`);
  const v = model.version;
  const attrs = v.attributes || {};
  const evaluation = candidateRows(attrs);
  let reg = null;
  try {
    reg = await api(`/api/v1/registry/models/${enc(modelId)}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  let chart = card("Actuals vs forecasts", h("p", { class: "muted" }, "This run has no inference log yet."));
  const log = v.files.find((f) => f.path === LOG || f.path.endsWith(`/${LOG}`));
  if (log) {
    const path = `/api/v1/ai-models/${enc(modelId)}/versions/${v.version}/files/${log.path.split("/").map(enc).join("/")}`;
    const text = await apiHead(path, MAX_LOG_BYTES);
    chart = forecastChart(parseLog(text, log.size_bytes > MAX_LOG_BYTES), evaluation.champion);
  }
  return h(
    "div",
    { class: "forecast", "data-model": modelId },
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, model.name || modelId),
      h("span", { class: "muted" }, `run v${v.version}, ${fmtDate(v.created_at)}`),
      h("a", { class: "btn", href: `#/models/${enc(modelId)}` }, "Versions, promote and rollback"),
    ),
    kv([
      ["Champion", evaluation.champion || "–"],
      ["Registry champion", reg?.champion ? `v${reg.champion.champion_version}` : "–"],
      ["Trained on", attrs.training_dataset ? `${attrs.training_dataset} v${attrs.training_dataset_version ?? "?"}` : "–"],
      ["Target", attrs.target_column || attrs.target || "–"],
    ]),
    chart,
    evaluationCard(evaluation),
  );
}
