// Models: every registered model with its champion, and one model's versions with
// promote and rollback (which move MLflow's `champion` alias through the API).

import { ApiError, api, enc } from "../api.js";
import { badge, card, clear, errorBox, fmtDate, fmtNum, h, kv, table, toast } from "../dom.js";
import { go } from "../nav.js";
import { leaderboard } from "./results.js";

async function maybe(promise) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

export async function modelsPage() {
  const [champions, stored] = await Promise.all([
    api("/api/v1/registry/models"),
    api("/api/v1/ai-models?limit=500"),
  ]);
  const byId = new Map();
  for (const c of champions) byId.set(c.model_id, { id: c.model_id, champion: c });
  for (const m of stored.items) byId.set(m.id, { ...(byId.get(m.id) || { id: m.id }), stored: m });
  const rows = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  return h(
    "div",
    {},
    h("h1", {}, "Models"),
    card(
      null,
      table(
        rows,
        [
          ["id", "Model", (id) => h("a", { href: `#/models/${enc(id)}`, "data-model": id }, id)],
          ["champion", "Kind", (c) => c?.kind || "uploaded"],
          ["champion", "Champion", (c) => (c ? h("span", { class: "champion" }, `★ v${c.champion_version}`) : "–")],
          ["champion", "Last change", (c) => lastChange(c)],
          ["stored", "Warehouse versions", (m) => (m ? String(m.versions.length) : "–")],
        ],
        { empty: "No models yet: a completed journey registers one." },
      ),
    ),
  );
}

function lastChange(c) {
  const last = c?.history?.[c.history.length - 1];
  return last ? `${last.reason} → v${last.version}, ${fmtDate(last.at)}` : "–";
}

// What rollback would restore: the registry keeps a stack (promotions push, rollbacks pop).
function previousChampion(history) {
  const stack = [];
  for (const entry of history || []) {
    if (entry.reason === "rollback") stack.pop();
    else stack.push(String(entry.version));
  }
  return stack.length >= 2 ? stack[stack.length - 2] : null;
}

async function act(path, body, message) {
  try {
    const live = await api(path, { method: "POST", json: body });
    toast(message(live));
    go(location.hash);
  } catch (err) {
    toast(err.message, "error");
  }
}

// A version the champion/challenger gate kept out: its badge, with the reason.
function challenger(r) {
  const raw = r.tags?.["millrace.verdict"];
  const verdict = raw ? JSON.parse(raw) : null;
  if (!verdict || verdict.promoted) return null;
  const why = verdict.reason.replace(/^v\d+ not promoted, kept as challenger: /, "");
  return h("span", { class: "challenger", "data-challenger": r.version, title: verdict.reason }, "challenger: ", why);
}

function registryCard(modelId, reg) {
  const metricKeys = [...new Set(reg.versions.flatMap((v) => Object.keys(v.metrics)))].slice(0, 6);
  const back = previousChampion(reg.champion?.history);
  const base = `/api/v1/registry/models/${enc(modelId)}`;
  const rollback = h(
    "button",
    {
      type: "button",
      id: "rollback",
      disabled: back ? null : true,
      title: back ? `v${back} becomes the champion again` : "There is no earlier champion",
      onclick: () => act(`${base}/rollback`, undefined, (c) => `Rolled back: v${c.champion_version} is the champion`),
    },
    back ? `Roll back to v${back}` : "Roll back",
  );
  const versions = table(
    reg.versions,
    [
      ["version", "Version", (v, r) => h("span", { "data-version": v }, `v${v} `, r.champion ? h("span", { class: "champion", "data-champion": v }, "★ champion") : challenger(r))],
      ["created_at", "Registered", fmtDate],
      ...metricKeys.map((k) => [k, k.replace(/_/g, " "), (_, r) => fmtNum(r.metrics[k])]),
      [
        "champion",
        "",
        (isChampion, r) =>
          isChampion
            ? ""
            : h(
                "button",
                {
                  type: "button",
                  class: "small",
                  "data-promote": r.version,
                  onclick: () => act(`${base}/promote`, { version: r.version }, (c) => `v${c.champion_version} is now the champion`),
                },
                "Promote",
              ),
      ],
    ],
    { cls: "versions" },
  );
  const history = [...(reg.champion?.history || [])].reverse();
  return card(
    "Registry (MLflow)",
    kv([
      ["Registered name", h("code", {}, reg.registered_name)],
      ["Kind", reg.champion?.kind || "–"],
      ["Champion", reg.champion ? h("strong", { id: "champion-version" }, `v${reg.champion.champion_version}`) : "none"],
    ]),
    h("p", { class: "muted small" }, "Promoting moves the champion alias; the inference server follows it. Rollback restores the previous champion."),
    h("div", { class: "actions" }, rollback),
    versions,
    h("h3", {}, "Champion history"),
    h("div", { id: "champion-history" }, table(history, [
      ["at", "When", fmtDate],
      ["version", "Version", (v) => `v${v}`],
      ["reason", "Why", (r) => r],
      ["actor", "By", (a) => a || "system"],
    ])),
  );
}

async function warehouseCard(model) {
  const rows = await api(`/api/v1/ai-models/${enc(model.id)}/versions`);
  const latest = rows[rows.length - 1];
  const attrs = latest.attributes || {};
  const scores = (a) => Object.entries(a.test_scores || {}).map(([k, v]) => `${k} ${fmtNum(v, 3)}`).join(", ");
  return card(
    "Warehouse versions",
    table(
      [...rows].reverse(),
      [
        ["version", "Version", (v) => `v${v}`],
        ["created_at", "Uploaded", fmtDate],
        ["attributes", "Algorithm", (a) => a.algorithm || a.framework || "–"],
        ["attributes", "Trained on", (a) => (a.training_dataset ? `${a.training_dataset} v${a.training_dataset_version ?? "?"}` : "–")],
        ["attributes", "Test scores", (a) => scores(a) || "–"],
        ["has_unsafe_files", "Files", (u, r) => (u ? badge("unsafe") : `${r.file_count} safe`)],
      ],
    ),
    latest.files.some((f) => f.path === "leaderboard.json")
      ? [h("h3", {}, `Leaderboard of v${latest.version}`), await leaderboard(model.id, latest.version, attrs.metric)]
      : null,
  );
}

export async function modelPage(modelId) {
  const [reg, model] = await Promise.all([
    maybe(api(`/api/v1/registry/models/${enc(modelId)}`)),
    maybe(api(`/api/v1/ai-models/${enc(modelId)}`)),
  ]);
  if (!reg && !model) throw new Error(`No model ${modelId}.`);
  const kind = reg?.champion?.kind;
  const content = h("div", { class: "model", "data-model": modelId });
  content.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, model?.name || modelId),
      h("span", { class: "muted" }, `model ${modelId}`),
      kind === "forecasting" || modelId.endsWith("-forecast")
        ? h("a", { class: "btn", href: `#/forecasts/${enc(modelId)}` }, "Forecasts and evaluation")
        : null,
    ),
  );
  content.append(reg ? registryCard(modelId, reg) : card("Registry (MLflow)", h("p", { class: "muted" }, "This model is not in the MLflow registry (it was uploaded, not trained here).")));
  if (model) {
    const box = h("div");
    content.append(box);
    warehouseCard(model).then(
      (c) => box.append(c),
      (err) => clear(box).append(errorBox(err)),
    );
  }
  return content;
}
