// Datasets: the list, the drag-and-drop upload, and one dataset's versions, files, schema
// and journeys.

import { api, apiHead, enc, session, upload } from "../api.js";
import { badge, card, clear, errorBox, fmtBytes, fmtDate, h, table } from "../dom.js";
import { go, poll } from "../nav.js";
import { csvColumns, journeyFields, parseCsvLine } from "./journey_form.js";

function slug(filename) {
  const stem = filename.replace(/^.*\//, "").replace(/\.[^.]*$/, "");
  return stem.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-._]+|[-._]+$/g, "").slice(0, 128);
}

// The upload card: drop a file (or a .zip of a folder), optionally give the journey its
// settings, and go to the journey page once the upload is stored.
export function uploadCard({ datasetId } = {}) {
  let file = null;
  const input = h("input", { type: "file", id: "file-input", class: "visually-hidden" });
  const chosen = h("div", { class: "chosen muted" }, "No file chosen yet.");
  const idInput = h("input", {
    id: "dataset-id",
    name: "dataset_id",
    placeholder: "from the file name",
    pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,127}",
    value: datasetId || "",
    readonly: datasetId ? true : null,
  });
  const nameInput = h("input", { id: "dataset-name", name: "name", placeholder: "optional" });
  const fieldsBox = h("div");
  let fields = journeyFields(null, { prefix: "upload" });
  fieldsBox.append(fields.el);
  const progress = h("progress", { max: 1, value: 0, hidden: true });
  const status = h("div", { class: "status" });
  const button = h("button", { type: "submit", class: "primary", id: "upload-btn", disabled: true }, "Upload");

  const choose = async (files) => {
    clear(status);
    if (files.length !== 1) {
      status.append(errorBox(new Error("Drop one file, or a .zip of a folder.")));
      return;
    }
    [file] = files;
    clear(chosen).append(h("strong", {}, file.name), ` (${fmtBytes(file.size)})`);
    chosen.classList.remove("muted");
    if (!datasetId && !idInput.dataset.touched) idInput.value = slug(file.name);
    button.disabled = false;
    const columns = await csvColumns(file).catch(() => null);
    fields = journeyFields(columns, { prefix: "upload" });
    clear(fieldsBox).append(fields.el);
  };
  input.addEventListener("change", () => choose([...input.files]));
  idInput.addEventListener("input", () => {
    idInput.dataset.touched = "1";
  });

  const zone = h(
    "label",
    { class: "dropzone", id: "dropzone", for: "file-input", tabindex: 0 },
    h("span", { class: "drop-icon", "aria-hidden": "true" }, "⇪"),
    h("span", {}, h("strong", {}, "Drop a file here"), " or click to browse"),
    h("span", { class: "muted small" }, "CSV, Parquet, XLSX, or a folder as .zip"),
  );
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    choose([...e.dataTransfer.files]);
  });

  const form = h(
    "form",
    {
      id: "upload-form",
      onsubmit: async (e) => {
        e.preventDefault();
        if (!file) return;
        clear(status);
        const body = new FormData();
        const isZip = /\.zip$/i.test(file.name);
        body.append(isZip ? "zip_file" : "file", file, file.name);
        const id = idInput.value.trim() || slug(file.name);
        body.append("dataset_id", id);
        if (nameInput.value.trim()) body.append("name", nameInput.value.trim());
        const v = fields.values();
        if (v.target_column) body.append("target_column", v.target_column);
        if (v.task_type) body.append("task_type", v.task_type);
        if (v.sensitive_columns) body.append("sensitive_columns", v.sensitive_columns.join(","));
        if (v.time_budget_s) body.append("time_budget_s", String(v.time_budget_s));
        if (v.favorable_label) body.append("favorable_label", v.favorable_label);
        if (v.privileged_groups) body.append("privileged_groups", JSON.stringify(v.privileged_groups));
        if (v.metric) body.append("metric", v.metric);
        const user = enc(session.user.user_id);
        const path = isZip ? `/api/v1/datasets/upload/folder/${user}` : `/api/v1/datasets/upload/${user}`;
        button.disabled = true;
        progress.hidden = false;
        try {
          const stored = await upload(path, body, (f) => {
            progress.value = f;
          });
          go(`#/datasets/${enc(stored.id)}/journey`);
        } catch (err) {
          status.append(errorBox(err));
          button.disabled = false;
        } finally {
          progress.hidden = true;
        }
      },
    },
    input,
    zone,
    chosen,
    h(
      "div",
      { class: "grid2" },
      h("div", { class: "field" }, h("label", { for: "dataset-id" }, "Dataset id"), idInput),
      h("div", { class: "field" }, h("label", { for: "dataset-name" }, "Name"), nameInput),
    ),
    h(
      "details",
      { class: "journey-settings" },
      h("summary", {}, "Journey settings (optional: you can give them after the upload)"),
      fieldsBox,
    ),
    h("div", { class: "actions" }, button, progress),
    status,
  );
  return card(datasetId ? "Upload a new version" : "Upload a dataset", form);
}

export async function datasetsPage() {
  const list = h("div");
  const search = h("input", { type: "search", placeholder: "Search datasets", id: "dataset-search" });
  const load = async () => {
    const q = search.value.trim();
    const page = await api(`/api/v1/datasets?limit=200${q ? `&q=${enc(q)}` : ""}`);
    clear(list).append(
      table(
        page.items,
        [
          ["id", "Dataset", (v) => h("a", { href: `#/datasets/${enc(v)}`, "data-dataset": v }, v)],
          ["name", "Name", (v, r) => (v && v !== r.id ? v : "")],
          ["latest_version", "Latest", (v) => (v ? `v${v}` : "–")],
          ["versions", "Versions", (v) => String(v.length)],
          ["updated_at", "Updated", fmtDate],
        ],
        { empty: "No datasets yet: upload one above." },
      ),
    );
  };
  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => load().catch((err) => clear(list).append(errorBox(err))), 250);
  });
  await load();
  return h(
    "div",
    {},
    h("h1", {}, "Datasets"),
    uploadCard(),
    card("Your datasets", search, list),
  );
}

// Waits until the core agent opened the journey of the newest version, then shows it.
export async function latestJourneyPage(datasetId) {
  const asset = await api(`/api/v1/datasets/${enc(datasetId)}`);
  const latest = asset.latest_version;
  const note = h("p", { class: "muted" }, `Waiting for the journey of ${datasetId} v${latest} to open…`);
  poll(async () => {
    const journeys = await api(`/api/v1/journeys?dataset_id=${enc(datasetId)}`);
    const found = journeys.find((j) => j.dataset_version === latest);
    if (found) location.replace(`#/journeys/${enc(found.id)}`);
    return Boolean(found);
  }, 700);
  return card(`Dataset ${datasetId} v${latest} is stored`, note);
}

function schemaBlock(asset, version, file) {
  const schema = file.table_schema;
  const box = h("div", { class: "schema", "data-file": file.path });
  const dtypes = schema.dtypes || {};
  box.append(
    h(
      "p",
      { class: "muted" },
      h("strong", {}, file.path),
      `: ${schema.format?.toUpperCase() || "table"}, ${schema.row_count ?? "?"} rows, ${schema.columns.length} columns`,
    ),
    h(
      "div",
      { class: "columns" },
      schema.columns.map((c) => h("span", { class: "col" }, h("strong", {}, c), h("em", {}, dtypes[c] || ""))),
    ),
  );
  if (schema.format === "csv") {
    const preview = h("div", { class: "preview" }, h("p", { class: "muted small" }, "Loading the first rows…"));
    box.append(preview);
    const path = `/api/v1/datasets/${enc(asset.id)}/versions/${version}/files/${file.path.split("/").map(enc).join("/")}`;
    apiHead(path, 32768)
      .then((text) => {
        const lines = text.split(/\r?\n/).slice(1, 11).filter((l) => l.length);
        const rows = lines.map((l) => Object.fromEntries(parseCsvLine(l).map((v, i) => [schema.columns[i] ?? `#${i}`, v])));
        clear(preview).append(
          h("h4", {}, "First rows"),
          table(rows, schema.columns.map((c) => [c, c, (v) => v ?? ""]), { cls: "compact" }),
        );
      })
      .catch((err) => clear(preview).append(errorBox(err)));
  }
  return box;
}

export async function datasetPage(datasetId, versionNo) {
  const q = versionNo ? `?version=${versionNo}` : "";
  const [asset, journeys] = await Promise.all([
    api(`/api/v1/datasets/${enc(datasetId)}${q}`),
    api(`/api/v1/journeys?dataset_id=${enc(datasetId)}`),
  ]);
  const v = asset.version;
  const versions = h(
    "div",
    { class: "tabs" },
    [...asset.versions].reverse().map((n) =>
      h("a", { href: `#/datasets/${enc(asset.id)}/v/${n}`, class: n === v.version ? "tab active" : "tab" }, `v${n}`),
    ),
  );
  const files = table(
    v.files,
    [
      ["path", "File"],
      ["size_bytes", "Size", fmtBytes],
      ["content_type", "Type", (t) => t],
      ["sha256", "SHA-256", (s) => h("code", { title: s }, `${s.slice(0, 12)}…`)],
      ["table_schema", "Rows", (s) => (s?.row_count ?? "–").toString()],
    ],
  );
  const schemas = v.files.filter((f) => f.table_schema && f.table_schema.columns);
  return h(
    "div",
    {},
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, asset.name && asset.name !== asset.id ? asset.name : asset.id),
      h("span", { class: "muted" }, `dataset ${asset.id}`),
    ),
    card(
      "Versions",
      versions,
      h("p", { class: "muted" }, `v${v.version}: uploaded ${fmtDate(v.created_at)} by ${v.created_by}, ${fmtBytes(v.size_bytes)}, ${v.file_count} file(s)`),
      files,
    ),
    schemas.length ? card("Schema", schemas.map((f) => schemaBlock(asset, v.version, f))) : null,
    card(
      "Journeys",
      table(
        journeys,
        [
          ["dataset_version", "Version", (n) => `v${n}`],
          ["state", "State", (s) => badge(s)],
          ["target_column", "Target", (t) => t || "–"],
          ["task_type", "Task", (t) => t || "–"],
          ["created_at", "Started", fmtDate],
          ["id", "", (id) => h("a", { href: `#/journeys/${enc(id)}`, class: "btn small" }, "Open journey")],
        ],
        { empty: "No journey yet." },
      ),
    ),
    uploadCard({ datasetId: asset.id }),
  );
}
