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

// One sensitive attribute's fairness: the groups table, a selection-rate chart with the
// four-fifths line, the summary metrics and any flags.
export function fairnessAttribute(column, entry, { model = false } = {}) {
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

export function modelFairness(report) {
  if (!report?.attributes) return null;
  return h(
    "div",
    { class: "model-fairness" },
    h("h3", {}, "Fairness of the model on the test split"),
    h("p", { class: "muted" }, `Favourable outcome: ${report.favourable_outcome}.`),
    Object.entries(report.attributes).map(([c, e]) => fairnessAttribute(c, e, { model: true })),
  );
}
