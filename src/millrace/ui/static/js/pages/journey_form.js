// The fields a journey needs (target, task, sensitive columns, budget) and the optional
// ones its reports read (favourable label, reference groups, AutoML metric): used by the
// upload form (optional there) and by a journey waiting in needs_input (target required).

import { h } from "../dom.js";

// FLAML's metric names; the AutoML agent says which fit the task.
const METRICS = ["accuracy", "roc_auc", "log_loss", "f1", "r2", "rmse", "mae"];
const PAIRS = "\\s*[^=,]+=[^=,]+(\\s*,\\s*[^=,]+=[^=,]+)*\\s*";

// "sex=Male, race=White" as {sex: "Male", race: "White"}; null when empty.
export function parseGroups(text) {
  const pairs = (text || "").split(",").map((p) => p.trim()).filter(Boolean);
  if (!pairs.length) return null;
  return Object.fromEntries(pairs.map((p) => p.split("=").map((s) => s.trim())));
}

const TASKS = [
  ["", "Infer from the target"],
  ["classification", "Classification"],
  ["regression", "Regression"],
  ["forecasting", "Forecasting"],
];

// columns: the dataset's column names, or null when unknown (free text then).
export function journeyFields(columns, { required = false, initial = {}, prefix = "j" } = {}) {
  const id = (name) => `${prefix}-${name}`;
  let target;
  if (columns && columns.length) {
    target = h(
      "select",
      { id: id("target"), name: "target_column", required },
      h("option", { value: "" }, required ? "Choose the target column…" : "Choose later"),
      columns.map((c) => h("option", { value: c, selected: c === initial.target_column }, c)),
    );
  } else {
    target = h("input", {
      id: id("target"),
      name: "target_column",
      placeholder: required ? "column name" : "optional: choose later",
      required,
      value: initial.target_column || "",
    });
  }
  const task = h(
    "select",
    { id: id("task"), name: "task_type" },
    TASKS.map(([v, label]) => h("option", { value: v, selected: v === (initial.task_type || "") }, label)),
  );
  const budget = h("input", {
    id: id("budget"),
    name: "time_budget_s",
    type: "number",
    min: 1,
    max: 43200,
    step: 1,
    placeholder: "60",
    value: initial.time_budget_s ?? "",
  });
  const favourable = h("input", {
    id: id("favourable"),
    name: "favorable_label",
    placeholder: "e.g. 1, good, approved (assumed if empty)",
    value: initial.favorable_label ?? "",
  });
  const privileged = h("input", {
    id: id("privileged"),
    name: "privileged_groups",
    placeholder: "e.g. sex=Male, race=White (the largest group if empty)",
    pattern: PAIRS,
    title: "column=group pairs, comma-separated",
    value: Object.entries(initial.privileged_groups || {}).map(([k, v]) => `${k}=${v}`).join(", "),
  });
  const metric = h("input", {
    id: id("metric"),
    name: "metric",
    list: id("metrics"),
    placeholder: "default: chosen for the task",
    value: initial.metric ?? "",
  });
  const metricList = h("datalist", { id: id("metrics") }, METRICS.map((m) => h("option", { value: m })));
  const chosen = new Set(initial.sensitive_columns || []);
  let sensitive;
  let sensitiveValues;
  if (columns && columns.length) {
    const boxes = columns.map((c) =>
      h(
        "label",
        { class: "chip" },
        h("input", { type: "checkbox", name: "sensitive", value: c, checked: chosen.has(c) }),
        c,
      ),
    );
    sensitive = h("div", { class: "chips", id: id("sensitive") }, boxes);
    sensitiveValues = () =>
      boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
  } else {
    sensitive = h("input", {
      id: id("sensitive"),
      name: "sensitive_columns",
      placeholder: "e.g. sex, age_band",
      value: [...chosen].join(", "),
    });
    sensitiveValues = () =>
      sensitive.value.split(",").map((s) => s.trim()).filter(Boolean);
  }
  const el = h(
    "div",
    { class: "journey-fields" },
    h("div", { class: "field" }, h("label", { for: id("target") }, "Target column"), target),
    h("div", { class: "field" }, h("label", { for: id("task") }, "Task"), task),
    h(
      "div",
      { class: "field" },
      h("label", { for: id("budget") }, "AutoML time budget (seconds)"),
      budget,
    ),
    h(
      "div",
      { class: "field wide" },
      h("label", { for: id("sensitive") }, "Sensitive columns (fairness is measured across their groups)"),
      sensitive,
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: id("favourable") }, "Favourable outcome (the target value that is good news)"),
      favourable,
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: id("privileged") }, "Reference (privileged) group per sensitive column"),
      privileged,
    ),
    h("div", { class: "field" }, h("label", { for: id("metric") }, "AutoML metric"), metric, metricList),
  );
  const values = () => {
    const out = {};
    if (target.value) out.target_column = target.value;
    if (task.value) out.task_type = task.value;
    if (budget.value) out.time_budget_s = Number(budget.value);
    const s = sensitiveValues();
    if (s.length) out.sensitive_columns = s;
    if (favourable.value.trim()) out.favorable_label = favourable.value.trim();
    const groups = parseGroups(privileged.value);
    if (groups) out.privileged_groups = groups;
    if (metric.value.trim()) out.metric = metric.value.trim();
    return out;
  };
  return { el, values };
}

// The column names in the first line of a CSV, read from the start of the file only.
export async function csvColumns(file) {
  if (!/\.(csv|txt)$/i.test(file.name)) return null;
  const head = await file.slice(0, 65536).text();
  const first = head.split(/\r?\n/, 1)[0];
  return first ? parseCsvLine(first) : null;
}

// One CSV record; quotes and doubled quotes handled, enough for headers and previews.
export function parseCsvLine(line) {
  const out = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i += 1;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}
