// Journeys: the list, and one journey followed live (polled every second) from
// needs_input through bias, automl and xai to completed, with its results as they land.

import { api, enc } from "../api.js";
import { badge, card, clear, errorBox, fmtDate, fmtNum, fmtSeconds, h, kv, seconds, table, toast } from "../dom.js";
import { poll } from "../nav.js";
import { forecastResults } from "./forecasts.js";
import { journeyFields } from "./journey_form.js";
import { biasReportName } from "./reports.js";
import { leaderboard, modelFairness } from "./results.js";

const STEPS = ["bias", "automl", "xai"];
const TERMINAL = new Set(["completed", "failed"]);
const XAI_LABELS = {
  "model_explanation/beginner": "Model explanation: beginner",
  "model_explanation/expert": "Model explanation: expert",
  "data_explanation/beginner": "Data explanation: beginner",
  "data_explanation/expert": "Data explanation: expert",
};

export async function journeysPage() {
  const journeys = await api("/api/v1/journeys");
  return h(
    "div",
    {},
    h("h1", {}, "Journeys"),
    card(
      null,
      table(
        journeys,
        [
          ["dataset_id", "Dataset", (d, j) => h("a", { href: `#/journeys/${enc(j.id)}` }, `${d} v${j.dataset_version}`)],
          ["state", "State", badge],
          ["target_column", "Target", (t) => t || "–"],
          ["task_type", "Task", (t) => t || "–"],
          ["created_at", "Started", fmtDate],
          ["completed_at", "Completed", fmtDate],
        ],
        { empty: "No journeys yet: upload a dataset to start one." },
      ),
    ),
  );
}

function stepNode(name, label, state, took, links) {
  return h(
    "li",
    { class: `step state-${state}`, "data-step": name, "data-state": state },
    h("span", { class: "dot", "aria-hidden": "true" }),
    h("span", { class: "step-name" }, label),
    h("span", { class: "step-state" }, state.replace("_", " ")),
    h("span", { class: "step-time" }, took === null ? "" : fmtSeconds(took)),
    links ? h("span", { class: "step-links" }, links) : null,
  );
}

function timeline(j) {
  const waitingInput = j.state === "needs_input";
  const firstStart = j.steps.bias?.started_at;
  const nodes = [
    stepNode(
      "needs_input",
      "Input",
      waitingInput ? "waiting" : j.state === "failed" && !j.failed_step ? "failed" : "done",
      waitingInput ? seconds(j.created_at) : firstStart ? seconds(j.created_at, firstStart) : null,
      null,
    ),
  ];
  for (const s of STEPS) {
    const step = j.steps[s] || { state: "pending" };
    const took = step.started_at ? seconds(step.started_at, step.finished_at) : null;
    const out = step.outputs || {};
    let links = null;
    if (s === "bias" && out.bias_report_id) {
      links = h("a", { href: `#/bias/${enc(out.bias_report_id)}` }, "report");
    } else if (s === "automl" && out.model_id) {
      const page = j.task_type === "forecasting" ? `#/forecasts/${enc(out.model_id)}/v/${out.model_version}` : `#/models/${enc(out.model_id)}`;
      links = h("a", { href: page }, `${out.model_id} v${out.model_version}`);
    } else if (s === "xai" && out.reports) {
      links = `${Object.keys(out.reports).length} reports`;
    }
    const bias = j.task_type === "forecasting" ? "Data quality" : "Bias";
    nodes.push(stepNode(s, s === "automl" ? "AutoML" : s === "xai" ? "XAI" : bias, step.state, took, links));
  }
  const end = j.state === "completed" ? "done" : j.state === "failed" ? "failed" : "pending";
  nodes.push(stepNode("completed", j.state === "failed" ? "Failed" : "Completed", end, j.completed_at ? seconds(j.created_at, j.completed_at) : null, null));
  return h("ol", { class: "timeline", id: "timeline" }, nodes);
}

async function needsInput(j, refresh) {
  const ds = await api(`/api/v1/datasets/${enc(j.dataset_id)}?version=${j.dataset_version}`);
  const columns = ds.version.files.flatMap((f) => f.table_schema?.columns || []);
  const fields = journeyFields([...new Set(columns)], {
    required: true,
    prefix: "input",
    initial: j,
  });
  const status = h("div");
  const form = h(
    "form",
    {
      id: "needs-input-form",
      onsubmit: async (e) => {
        e.preventDefault();
        clear(status);
        const body = fields.values();
        try {
          const updated = await api(`/api/v1/journeys/${enc(j.id)}`, { method: "PATCH", json: body });
          if (updated.state === "needs_input") status.append(h("div", { class: "alert" }, updated.reason));
          else toast(`Journey started: ${updated.state}`);
          refresh(updated);
        } catch (err) {
          status.append(errorBox(err));
        }
      },
    },
    h("p", { class: "reason" }, j.reason || "The journey needs its settings."),
    fields.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "start-journey" }, "Start the journey")),
    status,
  );
  return card("This journey waits for your input", form);
}

function failedBox(j, refresh) {
  const retry = h(
    "button",
    {
      type: "button",
      class: "primary",
      id: "retry-journey",
      onclick: async () => {
        retry.disabled = true;
        try {
          refresh(await api(`/api/v1/journeys/${enc(j.id)}/retry`, { method: "POST" }));
        } catch (err) {
          retry.after(errorBox(err));
          retry.disabled = false;
        }
      },
    },
    "Retry",
  );
  return h(
    "div",
    { class: "alert error", role: "alert" },
    h("strong", {}, j.failed_step ? `The ${j.failed_step} step failed. ` : "The journey could not start. "),
    j.reason || "",
    h("div", { class: "actions" }, retry),
  );
}

async function biasSummary(j) {
  const rid = j.steps.bias?.outputs?.bias_report_id;
  if (!rid) return null;
  const report = await api(`/api/v1/bias-reports/${enc(rid)}`);
  const q = report.content.quality;
  const f = report.content.fairness;
  const flags = f ? Object.values(f.attributes).flatMap((a) => a.flags) : [];
  return card(
    j.task_type === "forecasting" && !f ? "Data quality" : "Bias and data quality",
    kv([
      ["Rows", q.rows],
      ["Columns", q.columns],
      ["Duplicate rows", q.duplicate_rows],
      ["Columns with missing values", Object.keys(q.missing).length],
      ["Fairness flags", f ? (flags.length ? h("span", { class: "flag" }, String(flags.length)) : "none") : "no sensitive columns"],
    ]),
    h("a", { class: "btn", href: `#/bias/${enc(rid)}`, id: "open-bias" }, `Open the ${biasReportName(j.task_type).toLowerCase()}`),
  );
}

// The champion/challenger gate's verdict on this journey's model: live, or kept out and why.
function promotionNote(verdict) {
  if (!verdict) return null;
  const label = verdict.promoted ? "★ Champion: " : "Challenger, not promoted: ";
  const why = verdict.reason.replace(/^v\d+ (promoted|not promoted, kept as challenger): /, "");
  return h("p", { id: "promotion", class: verdict.promoted ? "promotion" : "promotion flag", title: verdict.reason }, label, why);
}

async function automlSummary(j) {
  const out = j.steps.automl?.outputs;
  if (!out?.model_id) return null;
  const model = await api(`/api/v1/ai-models/${enc(out.model_id)}?version=${out.model_version}`);
  const a = model.version.attributes;
  if (a.model_type === "forecasting") return forecastSummary(out, model.version);
  const scores = a.test_scores || {};
  const board = await leaderboard(out.model_id, out.model_version, a.metric);
  return card(
    "AutoML",
    h(
      "p",
      {},
      `Best: ${a.algorithm || a.framework || "?"}, validation ${a.metric || "score"} ${fmtNum(a.validation_score)}, `,
      `trained in ${fmtSeconds(a.train_and_upload_s)} of a ${fmtSeconds(a.budget_s)} budget.`,
    ),
    promotionNote(out.promotion),
    h("h3", {}, "Held-out test scores"),
    kv(Object.entries(scores)),
    a.model_fairness ? modelFairness(a.model_fairness) : null,
    h("h3", {}, "Leaderboard"),
    board,
    h("a", { class: "btn", href: `#/models/${enc(out.model_id)}` }, "Model versions and champion"),
  );
}

async function forecastSummary(out, version) {
  const a = version.attributes;
  const { nodes } = await forecastResults(out.model_id, version);
  return h(
    "div",
    {},
    card(
      "Forecasting",
      h(
        "p",
        {},
        `Champion: `,
        h("strong", { class: "champion" }, `★ ${a.champion}`),
        ` of ${a.leaderboard?.length ?? "?"} candidates, chosen on validation; ran on the ${a.runner || "?"} runner in ${fmtSeconds(a.train_and_upload_s)}.`,
      ),
      promotionNote(out.promotion || a.promotion),
      h("h3", {}, "Champion's held-out test scores"),
      kv(Object.entries(a.test_scores || {})),
      h("a", { class: "btn", href: `#/forecasts/${enc(out.model_id)}/v/${out.model_version}` }, "Open the forecasting run"),
    ),
    nodes,
  );
}

function xaiLinks(j) {
  const reports = j.steps.xai?.outputs?.reports;
  if (!reports) return null;
  return card(
    "Explanations (XAI)",
    h(
      "div",
      { class: "button-row" },
      Object.entries(reports).map(([key, rid]) =>
        h("a", { class: "btn", href: `#/xai/${enc(rid)}`, "data-xai": key }, XAI_LABELS[key] || key),
      ),
    ),
  );
}

export async function journeyPage(journeyId) {
  let j = await api(`/api/v1/journeys/${enc(journeyId)}`);
  const head = h("div", { class: "page-head" });
  const line = h("div", { id: "timeline-box" });
  const inputBox = h("div");
  const results = h("div");
  let shown = "";
  let stop = () => {};

  const renderHead = () => {
    clear(head).append(
      h("h1", {}, "Journey: ", h("a", { href: `#/datasets/${enc(j.dataset_id)}/v/${j.dataset_version}` }, `${j.dataset_id} v${j.dataset_version}`)),
      h("span", { id: "journey-state" }, badge(j.state)),
      kv([
        ["Target", j.target_column || "–"],
        ["Task", j.task_type ? `${j.task_type}${j.task_type_inferred ? " (inferred)" : ""}` : "–"],
        ["Sensitive", j.sensitive_columns.length ? j.sensitive_columns.join(", ") : "none"],
        ["Budget", fmtSeconds(j.time_budget_s)],
        ...(j.favorable_label != null ? [["Favourable outcome", j.favorable_label]] : []),
        ...(Object.keys(j.privileged_groups || {}).length
          ? [["Reference groups", Object.entries(j.privileged_groups).map(([k, v]) => `${k}=${v}`).join(", ")]]
          : []),
        ...(j.metric ? [["AutoML metric", j.metric]] : []),
        ["Started", fmtDate(j.created_at)],
        ["Total", j.completed_at ? fmtSeconds(seconds(j.created_at, j.completed_at)) : "–"],
      ]),
    );
  };
  // Sections are redrawn only when the journey changed, so a half-filled form survives.
  let chain = Promise.resolve();
  const renderSections = () => {
    chain = chain.then(drawSections).catch((err) => results.append(errorBox(err)));
    return chain;
  };
  const drawSections = async () => {
    const key = `${j.state}|${j.updated_at}`;
    if (key === shown) return;
    shown = key;
    renderHead();
    clear(inputBox);
    if (j.state === "needs_input") inputBox.append(await needsInput(j, refresh));
    if (j.state === "failed") inputBox.append(failedBox(j, refresh));
    const parts = await Promise.all([biasSummary(j), automlSummary(j), Promise.resolve(xaiLinks(j))].map((p) => p.catch(errorBox)));
    clear(results).append(...parts.filter(Boolean));
  };
  const tick = async () => {
    j = await api(`/api/v1/journeys/${enc(journeyId)}`);
    clear(line).append(timeline(j));
    await renderSections();
    return TERMINAL.has(j.state);
  };
  function refresh(updated) {
    j = updated;
    stop();
    clear(line).append(timeline(j));
    renderSections();
    if (!TERMINAL.has(j.state)) stop = poll(tick, 1000);
  }
  clear(line).append(timeline(j));
  await renderSections();
  if (!TERMINAL.has(j.state)) stop = poll(tick, 1000);
  return h("div", { class: "journey", "data-journey": j.id }, head, line, inputBox, results);
}
