// Forecasting runs: each `<dataset>-forecast` model's evaluation (every candidate on the
// same validation and test windows) and its inference log drawn as actuals vs forecasts,
// with the champion's prediction intervals shaded when its log lines carry them.
// The run's attributes are read tolerantly: a run without an evaluation or a log still
// shows what it has.

import { ApiError, api, apiHead, enc } from "../api.js";
import { barChart, colour, lineChart, otherLine } from "../charts.js";
import { card, fmtDate, fmtNum, h, kv, table } from "../dom.js";

const LOGS = ["forecasts.jsonl", "inference.jsonl"];
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

// The candidates of a run, as [{name, score, validation: {}, test: {}, train_seconds,
// members}], from the version's `leaderboard` attribute (val_*/test_* columns) or its
// evaluation; a combination's members (`ensemble`, `trio_mean`, ...) come from the latter.
function candidateRows(attrs, evaluationFile) {
  const champion = attrs.champion || evaluationFile?.champion || null;
  const windows = attrs.windows || evaluationFile?.windows || null;
  let rows = [];
  if (Array.isArray(attrs.leaderboard) && attrs.leaderboard.length) {
    rows = attrs.leaderboard.map((r) => {
      const out = { name: r.model ?? r.name, score: r.score, train_seconds: r.train_seconds, validation: {}, test: {} };
      for (const [k, v] of Object.entries(r)) {
        if (k.startsWith("val_")) out.validation[k.slice(4)] = v;
        else if (k.startsWith("test_")) out.test[k.slice(5)] = v;
      }
      return out;
    });
  } else if (evaluationFile?.candidates) {
    rows = Object.entries(evaluationFile.candidates).map(([name, c]) => ({ name, ...c }));
  }
  const members = {};
  for (const [name, c] of Object.entries(evaluationFile?.candidates || {})) {
    if (Array.isArray(c.members) && c.members.length) members[name] = c.members;
  }
  for (const r of rows) if (!r.members && members[r.name]) r.members = members[r.name];
  return { champion, windows, rows, members };
}

function metricKeys(rows, part) {
  const keys = new Set();
  for (const r of rows) for (const k of Object.keys(r[part] || {})) keys.add(k);
  const order = ["mae", "rmse", "mse", "smape", "mase", "nrmse"];
  const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
  return [...keys].sort((a, b) => rank(a) - rank(b));
}

// "ensemble" alone says nothing: name what it averages.
function membersNote(members) {
  return members?.length ? h("span", { class: "muted small members" }, ` mean of ${members.join(", ")}`) : null;
}

function evaluationCard({ champion, windows, rows, members }) {
  if (rows.length === 0) return card("Evaluation", h("p", { class: "muted" }, "This run has no evaluation."));
  rows.sort((a, b) => (a.score ?? Infinity) - (b.score ?? Infinity));
  const val = metricKeys(rows, "validation");
  const test = metricKeys(rows, "test");
  const cols = [
    [
      "name",
      "Candidate",
      (n) =>
        h(
          "span",
          { "data-candidate": n },
          n,
          n === champion ? h("span", { class: "champion" }, " ★ champion") : null,
          membersNote(members[n]),
        ),
    ],
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

// A log line's interval bounds by level: `lower_80`/`upper_80`, `lower_95`/`upper_95`, ...
function bounds(record) {
  const out = [];
  for (const [key, lo] of Object.entries(record)) {
    const level = /^lower_(\d+)$/.exec(key)?.[1];
    const hi = level && record[`upper_${level}`];
    if (typeof lo === "number" && typeof hi === "number") out.push([Number(level), lo, hi]);
  }
  return out;
}

// The bands of one model's points, widest level first (it is drawn underneath).
function intervalBands(points, colourOf) {
  const levels = [...new Set(points.flatMap((p) => p.bounds.map(([level]) => level)))].sort((a, b) => b - a);
  return levels.map((level, i) => ({
    level,
    name: `${level}% interval`,
    colour: colourOf,
    opacity: levels.length > 1 && i === 0 ? 0.12 : 0.24,
    points: points.flatMap((p) =>
      p.bounds.filter(([l]) => l === level).map(([, lo, hi]) => ({ x: p.x, lo, hi })),
    ),
  }));
}

// A timestamp without a zone is the series' own clock: read it as UTC, as the axis is
// labelled, so a viewer east or west of Greenwich sees the same months.
function parseTs(ts) {
  const text = String(ts);
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(text) || !text.includes("T");
  return new Date(zoned ? text : `${text}Z`);
}

function forecastChart(records, champion, target, members = {}) {
  const byModel = new Map();
  const actual = new Map();
  for (const r of records) {
    const t = parseTs(r.ts);
    if (Number.isNaN(+t)) continue;
    const name = r.model || "forecast";
    if (!byModel.has(name)) byModel.set(name, []);
    byModel.get(name).push({ x: t, y: r.prediction, bounds: bounds(r) });
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
  const ordered = [...byModel.entries()].sort(([a], [b]) =>
    a === champion ? -1 : b === champion ? 1 : a.localeCompare(b),
  );
  // The champion alone is solid and blue; every other line has a colour of its own.
  const colours = new Map();
  let others = 0;
  ordered.forEach(([name, points]) => {
    points.sort((a, b) => a.x - b.x);
    const line = name === champion ? { colour: colour(0), dash: null } : otherLine(others++);
    colours.set(name, line.colour);
    const shown = name === champion ? `${name} (champion)` : name;
    series.push({
      name: shown,
      label: members[name]?.length ? `${shown}: mean of ${members[name].join(", ")}` : shown,
      colour: line.colour,
      dash: line.dash,
      width: name === champion ? 2.6 : 1.4,
      points,
    });
  });
  // One model's intervals only (several would hide each other): the champion's, else
  // those of the first model whose lines carry bounds (the caption names it).
  const withBounds = ordered.filter(([, points]) => points.some((p) => p.bounds.length));
  const banded = withBounds.find(([name]) => name === champion) || withBounds[0];
  const bands = banded ? intervalBands(banded[1], colours.get(banded[0])) : [];
  return card(
    "Actuals vs forecasts",
    h(
      "p",
      { class: "muted small" },
      `Every candidate's forecasts over the test window (${actual.size} points), which no fitting, scaling or selection saw. The champion is the solid coloured line.`,
      bands.length
        ? ` The shaded bands are ${banded[0] === champion ? "the champion's" : `${banded[0]}'s`} ${bands.map((b) => `${b.level}%`).reverse().join(" and ")} prediction intervals.`
        : "",
    ),
    lineChart(series, { yLabel: target || "value", bands }),
  );
}

function failedCandidates(failed) {
  const entries = Object.entries(failed || {});
  if (!entries.length) return null;
  return h(
    "div",
    { class: "alert" },
    h("strong", {}, "Candidates that failed to train (left out of the evaluation):"),
    h(
      "ul",
      {},
      entries.map(([name, error]) =>
        h("li", {}, h("strong", {}, name), ": ", h("span", { title: String(error) }, String(error).split("\n")[0].slice(0, 200))),
      ),
    ),
  );
}

function filePath(modelId, version, path) {
  return `/api/v1/ai-models/${enc(modelId)}/versions/${version}/files/${path.split("/").map(enc).join("/")}`;
}

// The chart and the evaluation of one run (a warehouse model version); shared by the
// forecast page and a forecasting journey's page.
export async function forecastResults(modelId, version) {
  const attrs = version.attributes || {};
  const has = (name) => version.files.find((f) => f.path === name);
  let evaluationFile = null;
  if (has("evaluation.json")) {  // the scores, else the leaderboard has them; the members
    evaluationFile = await api(filePath(modelId, version.version, "evaluation.json")).catch(() => null);
  }
  const evaluation = candidateRows(attrs, evaluationFile);
  let chart = card("Actuals vs forecasts", h("p", { class: "muted" }, "This run has no forecasts log."));
  const log = LOGS.map(has).find(Boolean);
  if (log) {
    const text = await apiHead(filePath(modelId, version.version, log.path), MAX_LOG_BYTES);
    chart = forecastChart(
      parseLog(text, log.size_bytes > MAX_LOG_BYTES),
      evaluation.champion,
      attrs.config?.target,
      evaluation.members,
    );
  }
  return { evaluation, nodes: [chart, evaluationCard(evaluation)] };
}

export async function forecastPage(modelId, versionNo) {
  const model = await api(`/api/v1/ai-models/${enc(modelId)}${versionNo ? `?version=${versionNo}` : ""}`);
  const v = model.version;
  const attrs = v.attributes || {};
  let reg = null;
  try {
    reg = await api(`/api/v1/registry/models/${enc(modelId)}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  const { evaluation, nodes } = await forecastResults(modelId, v);
  const scores = attrs.test_scores || {};
  return h(
    "div",
    { class: "forecast", "data-model": modelId },
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, model.name || modelId),
      h("span", { class: "muted" }, `model ${modelId}`),
      h("a", { class: "btn", href: `#/models/${enc(modelId)}` }, "Versions, promote and rollback"),
    ),
    model.versions.length > 1
      ? h(
          "div",
          { class: "tabs" },
          [...model.versions].reverse().map((n) =>
            h("a", { href: `#/forecasts/${enc(modelId)}/v/${n}`, class: n === v.version ? "tab active" : "tab" }, `run v${n}`),
          ),
        )
      : null,
    card(
      `Run v${v.version}`,
      kv([
        [
          "Champion",
          evaluation.champion
            ? h(
                "span",
                {},
                h("span", { class: "champion", id: "forecast-champion" }, `★ ${evaluation.champion}`),
                membersNote(evaluation.members[evaluation.champion]),
              )
            : "–",
        ],
        ["MLflow champion", reg?.champion ? `v${reg.champion.champion_version}` : "–"],
        ["Trained on", attrs.training_dataset ? `${attrs.training_dataset} v${attrs.training_dataset_version ?? "?"}` : "–"],
        ["Target", attrs.config?.target || "–"],
        ["Horizon", attrs.config?.horizon ?? evaluation.windows?.horizon],
        ["Runner", attrs.runner || "–"],
        ["Trained in", attrs.train_and_upload_s === undefined ? "–" : `${fmtNum(attrs.train_and_upload_s, 3)} s`],
        ["Run at", fmtDate(v.created_at)],
      ]),
      Object.keys(scores).length ? [h("h3", {}, "Champion's test scores"), kv(Object.entries(scores))] : null,
      failedCandidates(attrs.failed_candidates),
    ),
    nodes,
  );
}
