// Renderers for what the agents produce: the AutoML leaderboard and fairness tables.
// Shared by the journey, bias report and model pages.

import { api, enc } from "../api.js";
import { barChart } from "../charts.js";
import { clear, fmtNum, h, table } from "../dom.js";

const FOUR_FIFTHS = 0.8;

// The leaderboard.json of a warehouse model version: every FLAML trial, best first.
export async function leaderboard(modelId, version, metric, { top = 10 } = {}) {
  let rows;
  try {
    rows = await api(`/api/v1/ai-models/${enc(modelId)}/versions/${version}/files/leaderboard.json`);
  } catch {
    return h("p", { class: "muted" }, "This model has no leaderboard.");
  }
  if (!Array.isArray(rows) || rows.length === 0) return h("p", { class: "muted" }, "The leaderboard is empty.");
  const scoreKeys = Object.keys(rows[0]).filter((k) => k.startsWith("validation_"));
  const columns = [
    ["rank", "#"],
    ["estimator", "Estimator", (v) => v],
    ...scoreKeys.map((k) => [k, k.replace("validation_", "validation ")]),
    ["trial_seconds", "Seconds"],
    ["config", "Config", (c) => h("code", { class: "config", title: JSON.stringify(c) }, summariseConfig(c))],
  ];
  const box = h("div", { id: "leaderboard", "data-rows": rows.length });
  const draw = (all) => {
    clear(box).append(
      table(all ? rows : rows.slice(0, top), columns, { cls: "leaderboard" }),
      rows.length > top
        ? h(
            "button",
            { type: "button", class: "link", onclick: () => draw(!all) },
            all ? "Show the top 10" : `Show all ${rows.length} trials`,
          )
        : null,
      metric ? h("p", { class: "muted small" }, `Ranked by validation ${metric}; test scores are computed once, on the held-out split.`) : null,
    );
  };
  draw(false);
  return box;
}

function summariseConfig(config) {
  if (!config || typeof config !== "object") return "";
  const parts = Object.entries(config)
    .slice(0, 4)
    .map(([k, v]) => `${k}=${fmtNum(v, 3)}`);
  return parts.join(", ") + (Object.keys(config).length > 4 ? ", …" : "");
}

// A figure, or "undefined" with its reason on hover (a rate whose denominator is zero).
const figure = (key) => (value, row) =>
  value === null || value === undefined
    ? h("span", { class: "muted undefined", title: row.undefined?.[key] || "" }, row.undefined?.[key] ? "undefined" : "–")
    : fmtNum(value);

const WORST = [
  ["disparate_impact_min_over_max", "Disparate impact, lowest ÷ highest selection rate"],
  ["statistical_parity_max_minus_min", "Statistical parity, highest − lowest selection rate"],
  ["equal_opportunity_max_minus_min", "Equal opportunity, highest − lowest TPR"],
  ["equalized_odds_max_difference", "Equalized odds, largest TPR or FPR gap"],
];

// One sensitive attribute's fairness: the groups (reference and small ones marked), each
// group against the reference with AIF360's signed metrics, the worst-case min/max figures,
// a selection-rate chart, undefined values with their reason, notes and flags.
export function fairnessAttribute(column, entry, { model = false } = {}) {
  if (!entry.vs_reference) return legacyAttribute(column, entry, { model });
  const ref = entry.reference_group;
  const groups = Object.entries(entry.groups).map(([group, v]) => ({ group, ...v }));
  const label = (g) => [g, g === ref ? " (reference)" : "", entry.groups[g]?.small ? " (small)" : ""].join("");
  const cols = [
    ["group", "Group", label],
    ["count", "Rows"],
    ["favourable_labels", "Favourable labels"],
  ];
  if (model) cols.push(["favourable_predictions", "Favourable predictions"]);
  cols.push(["selection_rate", "Selection rate", figure("selection_rate")]);
  if (model) {
    cols.push(
      ["true_positive_rate", "TPR", figure("true_positive_rate")],
      ["false_positive_rate", "FPR", figure("false_positive_rate")],
    );
  }
  const versus = Object.entries(entry.vs_reference).map(([group, v]) => ({ group, ...v }));
  const vcols = [
    ["group", `Group vs ${ref}`, label],
    ["disparate_impact", "Disparate impact", figure("disparate_impact")],
    ["statistical_parity_difference", "Statistical parity diff.", figure("statistical_parity_difference")],
  ];
  if (model) {
    vcols.push(
      ["equal_opportunity_difference", "Equal opportunity diff.", figure("equal_opportunity_difference")],
      ["average_odds_difference", "Average odds diff.", figure("average_odds_difference")],
    );
  }
  const worst = entry.worst_case;
  const worstRows = WORST.filter(([k]) => k in worst).map(([k, metric]) => ({ metric, value: worst[k], key: k }));
  const best = Math.max(...groups.map((g) => g.selection_rate ?? 0));
  const undefinedRows = [...groups, ...versus].flatMap((r) =>
    Object.entries(r.undefined || {}).map(([metric, why]) => `${r.group}: ${metric.replaceAll("_", " ")} is undefined (${why})`),
  );
  return h(
    "div",
    { class: "fairness-attr", "data-attribute": column },
    h("h3", {}, model ? `Model predictions by ${column}` : `Groups of ${column}`),
    h("p", { class: "muted small" }, `Reference group: ${ref} (${entry.reference_why}).`),
    h(
      "div",
      { class: "grid2" },
      h(
        "div",
        {},
        table(groups, cols),
        table(versus, vcols, { empty: "No other group to compare." }),
        table(worstRows, [
          ["metric", "Worst case, over the groups large enough to judge", (m) => m],
          ["value", "Value", (v, row) => (v === null ? h("span", { class: "muted", title: worst.undefined?.[row.key] || "" }, "undefined") : fmtNum(v))],
        ]),
      ),
      barChart(
        groups.map((g) => ({ label: g.group, value: g.selection_rate })),
        {
          title: `Selection rate by ${column}`,
          threshold: best > 0 ? { value: best * FOUR_FIFTHS, label: "4/5 of highest" } : null,
          max: 1,
        },
      ),
    ),
    undefinedRows.length ? h("ul", { class: "muted small" }, undefinedRows.map((t) => h("li", {}, t))) : null,
    (entry.notes || []).map((n) => h("p", { class: "muted small" }, n)),
    entry.flags?.length
      ? h("ul", { class: "flags" }, entry.flags.map((f) => h("li", { class: "flag" }, f)))
      : h("p", { class: "ok" }, "No fairness threshold crossed."),
  );
}

// A report made before the reference-group metrics (issue 17): its own summary figures.
function legacyAttribute(column, entry, { model = false } = {}) {
  const groups = Object.entries(entry.groups).map(([group, v]) => ({ group, ...v }));
  const cols = [
    ["group", "Group", (g) => g],
    ["count", "Count"],
    ["selection_rate", "Selection rate"],
  ];
  if (model) cols.push(["true_positive_rate", "True positive rate"], ["false_positive_rate", "False positive rate"]);
  const best = Math.max(...groups.map((g) => g.selection_rate ?? 0));
  const metrics = [
    ["Disparate impact ratio", entry.disparate_impact_ratio, "lowest selection rate ÷ highest; below 0.8 fails the four-fifths rule"],
    ["Statistical parity difference", entry.statistical_parity_difference, "highest selection rate − lowest"],
  ];
  if (model) {
    metrics.push(
      ["Equal opportunity difference", entry.equal_opportunity_difference, "gap in true positive rates"],
      ["Average odds difference", entry.average_odds_difference, "mean gap in true and false positive rates"],
    );
  }
  return h(
    "div",
    { class: "fairness-attr", "data-attribute": column },
    h("h3", {}, model ? `Model predictions by ${column}` : `Groups of ${column}`),
    h(
      "div",
      { class: "grid2" },
      h(
        "div",
        {},
        table(groups, cols),
        table(
          metrics.map(([metric, value, meaning]) => ({ metric, value, meaning })),
          [
            ["metric", "Metric", (m) => m],
            ["value", "Value"],
            ["meaning", "Meaning", (m) => h("span", { class: "muted small" }, m)],
          ],
        ),
      ),
      barChart(
        groups.map((g) => ({ label: g.group, value: g.selection_rate })),
        {
          title: `Selection rate by ${column}`,
          threshold: best > 0 ? { value: best * FOUR_FIFTHS, label: "4/5 of highest" } : null,
          max: 1,
        },
      ),
    ),
    entry.flags?.length
      ? h("ul", { class: "flags" }, entry.flags.map((f) => h("li", { class: "flag" }, f)))
      : h("p", { class: "ok" }, "No fairness threshold crossed."),
  );
}

// What counts as the favourable outcome, and whether the user said so or it was assumed.
export function favourableText(report) {
  const why = report.favourable_why ? ` (${report.favourable_why})` : "";
  return `Favourable outcome: ${report.favourable_outcome}${why}.`;
}

export function modelFairness(report) {
  if (report?.error) return h("p", { class: "muted" }, `No fairness figures for the model: ${report.error}`);
  if (!report?.attributes) return null;
  return h(
    "div",
    { class: "model-fairness" },
    h("h3", {}, "Fairness of the model on the test split"),
    h("p", { class: "muted" }, favourableText(report)),
    Object.entries(report.attributes).map(([c, e]) => fairnessAttribute(c, e, { model: true })),
  );
}
