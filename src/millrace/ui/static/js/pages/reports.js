// Reports: the bias report drawn from its JSON (tables and charts; for a time series, which
// has no sensitive groups, it is a data-quality report and says so), and the XAI reports,
// whose HTML is shown in a sandboxed frame so nothing in it can run as this page.

import { api, apiText, enc } from "../api.js";
import { barChart, colour } from "../charts.js";
import { card, fmtDate, h, kv, table } from "../dom.js";
import { fairnessAttribute, favourableText } from "./results.js";

async function journeyFor(datasetId, match) {
  try {
    const journeys = await api(`/api/v1/journeys?dataset_id=${enc(datasetId)}`);
    return journeys.find(match) || null;
  } catch {
    return null;
  }
}

function backLink(journey) {
  return journey ? h("a", { href: `#/journeys/${enc(journey.id)}`, class: "back" }, "← Back to the journey") : null;
}

function listOr(values) {
  return values && values.length ? values.join(", ") : "none";
}

function qualityCard(c) {
  const q = c.quality;
  const missing = Object.entries(q.missing).map(([column, m]) => ({ column, ...m }));
  const balance = q.label_balance || {};
  const corr = Object.entries(q.correlation_with_target || {})
    .map(([label, value]) => ({ label, value, colour: value < 0 ? colour(1) : colour(0) }))
    .sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
  return card(
    "Data quality",
    kv([
      ["Rows", q.rows],
      ["Columns", q.columns],
      ["Duplicate rows", q.duplicate_rows],
      ["Constant columns", listOr(q.constant_columns)],
      ["All-missing columns", listOr(q.all_missing_columns)],
      ["Text columns that are mostly numbers", listOr(q.type_issues.map((i) => i.column))],
    ]),
    h(
      "div",
      { class: "grid2" },
      h(
        "div",
        {},
        h("h3", {}, "Missing values"),
        table(missing, [["column", "Column", (x) => x], ["count", "Missing"], ["share", "Share"]], {
          empty: "No missing values.",
        }),
        h("h3", {}, "Highly correlated pairs"),
        table(q.high_correlations, [["a", "Column", (x) => x], ["b", "Column", (x) => x], ["r", "r"]], {
          empty: "No pair with |r| ≥ 0.9.",
        }),
      ),
      balance.counts
        ? barChart(
            Object.entries(balance.counts).map(([label, value]) => ({ label, value })),
            { title: `Label balance of ${c.target_column} (minority share ${balance.minority_share})` },
          )
        : h("div", {}, h("h3", {}, `Distribution of ${c.target_column}`), kv(Object.entries(balance))),
    ),
    corr.length
      ? barChart(corr, { title: `Correlation of each numeric column with ${c.target_column}` })
      : null,
  );
}

// What the bias step's report is called: a series has no groups to compare, so for a
// forecasting dataset it is the data's quality profile alone.
export function biasReportName(taskType) {
  return taskType === "forecasting" ? "Data-quality report" : "Bias report";
}

export async function biasPage(reportId) {
  const report = await api(`/api/v1/bias-reports/${enc(reportId)}`);
  const c = report.content;
  const qualityOnly = c.task_type === "forecasting" && !c.fairness;
  const journey = await journeyFor(
    report.dataset_id,
    (j) => j.steps?.bias?.outputs?.bias_report_id === report.id,
  );
  const fairness = c.fairness;
  return h(
    "div",
    { class: "report bias-report", "data-report": report.id },
    backLink(journey),
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, `${biasReportName(c.task_type)}: ${report.dataset_id} v${report.dataset_version}`),
      h("span", { class: "muted" }, `target ${c.target_column} (${c.task_type}), ${fmtDate(report.created_at)}`),
    ),
    qualityCard(c),
    qualityOnly
      ? h("p", { class: "muted", id: "quality-only" }, "A time series has no sensitive groups, so this report profiles the data's quality only.")
      : card(
          "Fairness",
          fairness
            ? [
                h("p", {}, `${favourableText(fairness)} Selection rate is the share of each group with that outcome.`),
                fairness.min_group_size
                  ? h(
                      "p",
                      { class: "muted small" },
                      `Each group is compared with its reference group (AIF360's definitions and signs: below 1 or negative means worse off). ` +
                        `Flagged: disparate impact outside [0.8, 1.25], differences beyond ±0.1; groups under ${fairness.min_group_size} rows are shown, never flagged.`,
                    )
                  : null,
                Object.entries(fairness.attributes).map(([column, entry]) => fairnessAttribute(column, entry)),
              ]
            : h("p", { class: "muted" }, "No sensitive columns were given, so there are no fairness metrics."),
        ),
  );
}

const XAI_ORDER = [
  ["model_explanation", "beginner"],
  ["model_explanation", "expert"],
  ["data_explanation", "beginner"],
  ["data_explanation", "expert"],
];

function xaiTitle(r) {
  const what = r.report_type === "data_explanation" ? "Data explanation" : "Model explanation";
  return `${what} · ${r.level}`;
}

// The frame as tall as its document (wide tables still scroll sideways inside it), again
// whenever the document's size changes: images decoding, the window narrowing.
function fitFrame(frame) {
  const doc = frame.contentDocument;
  if (!doc?.documentElement) return;
  const root = doc.documentElement;
  // The root's own height follows its content, never the frame's (scrollHeight would).
  const fit = () => {
    const bar = root.scrollWidth > root.clientWidth ? 18 : 0;
    frame.style.height = `${root.offsetHeight + bar + 2}px`;
  };
  fit();
  new ResizeObserver(fit).observe(root);
}

export async function xaiPage(reportId) {
  const report = await api(`/api/v1/xai-reports/${enc(reportId)}`);
  const [html, page, journey] = await Promise.all([
    apiText(`/api/v1/xai-reports/${enc(reportId)}/view`),
    api(`/api/v1/xai-reports?dataset_id=${enc(report.dataset_id)}&limit=500`),
    journeyFor(report.dataset_id, (j) => Object.values(j.steps?.xai?.outputs?.reports || {}).includes(report.id)),
  ]);
  const siblings = page.items.filter(
    (r) => r.model_id === report.model_id && r.model_version === report.model_version,
  );
  const rank = (r) => XAI_ORDER.findIndex(([t, l]) => t === r.report_type && l === r.level);
  siblings.sort((a, b) => rank(a) - rank(b));
  // No allow-scripts: nothing in the report runs, so it cannot read the token either.
  // allow-same-origin lets this page (not the report) measure the report, so the frame
  // grows to its height and the page scrolls, not a box inside it; the CSP the frame
  // inherits (script-src 'self') would stop an inline script on its own as well.
  const frame = h("iframe", {
    id: "xai-frame",
    class: "report-frame",
    sandbox: "allow-same-origin",
    title: xaiTitle(report),
    referrerpolicy: "no-referrer",
    onload: () => fitFrame(frame),
  });
  frame.srcdoc = html;
  return h(
    "div",
    { class: "report xai-report", "data-report": report.id },
    backLink(journey),
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, `XAI: ${report.model_id || report.dataset_id}${report.model_version ? ` v${report.model_version}` : ""}`),
      h("span", { class: "muted" }, `dataset ${report.dataset_id} v${report.dataset_version}`),
    ),
    h(
      "div",
      { class: "tabs" },
      siblings.map((r) =>
        h(
          "a",
          {
            href: `#/xai/${enc(r.id)}`,
            class: r.id === report.id ? "tab active" : "tab",
            "data-level": r.level,
            "data-type": r.report_type,
          },
          xaiTitle(r),
        ),
      ),
    ),
    h(
      "p",
      { class: "muted small" },
      report.level === "beginner"
        ? "Beginner: what matters most, in plain words."
        : "Expert: SHAP values, permutation importance and the method's details.",
    ),
    frame,
  );
}
