// Compare: any runs overlaid per metric, coloured by optimizer, and (when they logged per-layer
// statistics) their distributions across layers on one chart; the URL (?runs=1,2,3, the charted
// metrics as ?metric=, and the chart toolbar's x, smoothing, log) holds the view, so the page can
// be shared, saved to the project as a named comparison and restored
// (?comparison=ID). A share link's page (#compare-body data-comparison-id) shows one saved comparison
// read-only: no picker, no removing, no saving, no links to pages the link does not open.

import { get, isShared, post } from "../api.js";
import { pointsFor } from "../chart.js";
import { ChartGrid, maxPointsFor } from "../chart_grid.js";
import { bindModeSwitch, groupMode, showGroups } from "../compare_groups.js";
import { CompareLayers } from "../compare_layers.js";
import {
  DEFAULT_SMOOTHING,
  chartState,
  renderControls,
  setUrlParams,
  tzOffsetMinutes,
} from "../controls.js";
import { h, replace } from "../dom.js";
import { fmtValue } from "../format.js";
import { plotlyReady } from "../plotly_loader.js";
import { mayEditProject } from "../roles.js";
import { emptyState, errorState, optimizerBadge, statusBadge, toast } from "../ui.js";

const params = new URLSearchParams(location.search);
const state = { ...chartState(params), runs: selectionFromUrl(), metrics: metricsFromUrl(params) };
const body = document.getElementById("compare-body");
let grid = null;
let shown = null; // the last answer of /views/compare, for saving

function metricsFromUrl(params) {
  const keys = params.getAll("metric").filter(Boolean);
  return keys.length ? [...new Set(keys)] : null; // null: every metric the runs logged
}

function setMetricsInUrl(metrics) {
  const url = new URL(location.href);
  url.searchParams.delete("metric");
  for (const key of metrics || []) url.searchParams.append("metric", key);
  history.replaceState(null, "", url);
}

function selectionFromUrl() {
  const params = new URLSearchParams(location.search);
  const ids = [...(params.get("runs") || "").split(","), ...params.getAll("run")];
  return [...new Set(ids.map((s) => Number.parseInt(s, 10)).filter((n) => n > 0))];
}

function setSelection(ids) {
  state.runs = [...new Set(ids)];
  setUrlParams({ runs: state.runs.join(",") });
  load();
}

function runName(run, cls) {
  if (isShared) return h("span", { class: cls }, run.name); // the link does not open run pages
  return h("a", { class: cls, href: `/runs/${run.id}` }, run.name);
}

function chips(runs) {
  return runs.map(({ row, label, color }) => {
    const remove = isShared
      ? null
      : h(
          "button",
          { type: "button", title: `Remove ${row.run.name}`, "aria-label": `Remove ${row.run.name}` },
          "×",
        );
    remove?.addEventListener("click", () => setSelection(state.runs.filter((id) => id !== row.run.id)));
    return h(
      "span",
      { class: "run-chip", dataset: { run: row.run.id } },
      h("span", { class: "swatch", style: { background: color } }),
      runName(row.run),
      h("span", { class: "muted" }, label !== row.run.name ? label : ""),
      remove,
    );
  });
}

function paramsTable(data) {
  const { columns, rows } = data.table;
  const byRun = new Map(data.runs.map((r) => [r.row.run.id, r]));
  const head = h(
    "tr",
    {},
    h("th", {}, "Run"),
    h("th", {}, "Status"),
    columns.map((c) => h("th", { dataset: { param: c.key } }, c.label)),
    h("th", { class: "right" }, "Last loss"),
    h("th", { class: "right" }, "Best loss"),
  );
  const bodyRows = rows.map((r) => {
    const { row, color, note } = byRun.get(r.run);
    return h(
      "tr",
      { dataset: { run: r.run } },
      h(
        "td",
        {},
        h("span", { class: "swatch", style: { background: color } }),
        " ",
        runName(row.run, "run-name"),
        note ? h("span", { class: "muted note-excerpt", title: note }, note) : null, // plain text
      ),
      h("td", {}, statusBadge(row.run.status)),
      r.values.map((v, i) =>
        h("td", { class: "mono" }, columns[i].key === "optimizer" ? optimizerBadge(v) : formatParam(v)),
      ),
      h("td", { class: "right num" }, fmtValue(row.last_loss)),
      h("td", { class: "right num" }, fmtValue(row.best_loss)),
    );
  });
  const note = columns.length
    ? `${columns.length} parameter${columns.length === 1 ? "" : "s"} differ; equal ones are hidden.`
    : data.runs.length > 1
      ? "These runs share every parameter."
      : "Add another run to see which parameters differ.";
  return h(
    "div",
    { class: "card", id: "params" },
    h(
      "div",
      { class: "card-head" },
      h("h2", {}, "Differing parameters"),
      h("span", { class: "muted" }, note),
    ),
    h(
      "div",
      { class: "table-wrap" },
      h("table", { class: "data" }, h("thead", {}, head), h("tbody", {}, bodyRows)),
    ),
  );
}

function formatParam(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return `(${v.join(", ")})`;
  return String(v);
}

async function load() {
  renderSelectionPlaceholder();
  if (!state.runs.length) {
    shown = null;
    updateSaveButton();
    replace(
      body,
      h(
        "div",
        { class: "card" },
        emptyState(
          "Pick runs to compare",
          "Add runs with the picker above, or select them in a project's runs table and press Compare.",
        ),
      ),
    );
    return;
  }
  if (groupMode()) {
    grid = null; // its charts are gone: back in runs mode, size them from the page again
    return showGroups(body, document.getElementById("selection"), state.runs);
  }
  try {
    const width = body.clientWidth > 1100 ? (body.clientWidth - 16) / 2 : body.clientWidth;
    const points = grid ? maxPointsFor(grid.container) : pointsFor(width - 88);
    const query = {
      run: state.runs,
      max_points: points,
      x: state.x,
      tz: tzOffsetMinutes(),
    };
    const [data] = await Promise.all([get("/views/compare", query), plotlyReady()]);
    await show(data);
  } catch (err) {
    replace(body, h("div", { class: "card" }, errorState(err.message, load)));
  }
}

function renderSelectionPlaceholder() {
  if (!state.runs.length)
    replace(document.getElementById("selection"), h("span", { class: "muted" }, "No runs selected."));
}

async function show(data) {
  replace(document.getElementById("selection"), chips(data.runs));
  const controls = h("div", { class: "card", id: "chart-controls" });
  const charts = h("div", { class: "chart-grid", id: "charts" });
  const layers = h("div", { class: "card layers-card", id: "compare-layers", hidden: true });
  replace(body, paramsTable(data), controls, charts, layers);
  new CompareLayers(layers, data.runs)
    .load()
    .catch((err) => toast(`Could not load the per-layer statistics: ${err.message}`, { kind: "error" }));
  grid = new ChartGrid(charts, state);
  renderControls(controls, state, {
    x: () => load(),
    smoothing: (w) => grid.setSmoothing(w),
    logY: (on) => grid.setLogY(on),
    reset: () => grid.resetZoom(),
  });
  const metricCharts = state.metrics
    ? data.charts.filter((c) => c.keys.some((k) => state.metrics.includes(k)))
    : data.charts;
  shown = data;
  updateSaveButton();
  await grid.render(metricCharts, emptyState("No metrics", "None of these runs has logged metrics yet."));
}

// ---- saved comparisons -------------------------------------------------------------------

const saveOpen = document.getElementById("save-open");
const saveForm = document.getElementById("save-form");

function projectOfShown() {
  const ids = new Set((shown?.runs || []).map((r) => r.row.run.project_id));
  return ids.size === 1 ? [...ids][0] : null;
}

function updateSaveButton() {
  if (!saveOpen) return; // a share link's page saves nothing
  const project = projectOfShown();
  const allowed = project !== null && mayEditProject(project);
  saveOpen.disabled = !allowed;
  saveOpen.title =
    project === null && shown?.runs.length
      ? "A comparison is saved to one project: compare runs of one project to save it."
      : project !== null && !allowed
        ? "Saving a comparison needs the editor role on its project."
        : "";
}

function savedState() {
  return {
    runs: state.runs,
    metrics: state.metrics,
    x: state.x,
    smoothing: state.smoothing,
    log_y: state.logY,
  };
}

function showSaved(comparison) {
  document.getElementById("compare-title").textContent = comparison.name;
  document.getElementById("compare-sub").textContent =
    comparison.description || `Saved comparison · by ${comparison.created_by}`;
  document.title = `${comparison.name} · Compare runs`;
}

saveOpen?.addEventListener("click", () => {
  saveForm.hidden = false;
  document.getElementById("save-scope").textContent =
    `Saved to this project's Comparisons tab with these ${state.runs.length} runs, the metrics, x axis, smoothing and log scale shown now.`;
  document.getElementById("save-name").focus();
});
document.getElementById("save-cancel")?.addEventListener("click", () => {
  saveForm.hidden = true;
});
saveForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const project = projectOfShown();
  const error = document.getElementById("save-error");
  error.textContent = "";
  const submit = document.getElementById("save-submit");
  submit.disabled = true;
  try {
    const saved = await post(`/projects/${project}/comparisons`, {
      name: document.getElementById("save-name").value,
      description: document.getElementById("save-description").value,
      state: savedState(),
    });
    saveForm.hidden = true;
    saveForm.reset();
    setUrlParams({ comparison: saved.id });
    showSaved(saved);
    toast(`Saved “${saved.name}”.`, {
      link: { href: `/projects/${project}/comparisons`, text: "See the project's comparisons" },
    });
  } catch (err) {
    error.textContent = err.message;
  } finally {
    submit.disabled = false;
  }
});

// The page's view as a saved comparison holds it: runs, metrics, x axis, smoothing, log scale.
async function restore(id) {
  const saved = await get(`/comparisons/${id}`);
  const s = saved.state;
  Object.assign(state, {
    runs: s.runs,
    metrics: s.metrics,
    x: s.x,
    smoothing: s.smoothing,
    logY: s.log_y,
  });
  setUrlParams({
    runs: s.runs.join(","),
    x: s.x === "step" ? null : s.x,
    smoothing: s.smoothing === DEFAULT_SMOOTHING ? null : s.smoothing,
    log: s.log_y ? "1" : null,
  });
  setMetricsInUrl(s.metrics);
  showSaved(saved);
}

async function setupPicker() {
  const projectSelect = document.getElementById("picker-project");
  const runSelect = document.getElementById("picker-run");
  const add = document.getElementById("picker-add");
  const projects = await get("/projects", { limit: 500 });
  projectSelect.append(...projects.items.map((p) => h("option", { value: p.id }, p.name)));
  projectSelect.addEventListener("change", async () => {
    runSelect.disabled = add.disabled = true;
    replace(runSelect, h("option", { value: "" }, "Choose a run…"));
    if (!projectSelect.value) return;
    const runs = await get("/runs", { project_id: projectSelect.value, limit: 500 });
    runSelect.append(
      ...runs.items.map((r) =>
        h("option", { value: r.id }, `${r.name} · ${r.optimizer || "?"} · ${r.status}`),
      ),
    );
    runSelect.disabled = false;
  });
  runSelect.addEventListener("change", () => {
    add.disabled = !runSelect.value;
  });
  add.addEventListener("click", () => setSelection([...state.runs, Number(runSelect.value)]));
}

document.getElementById("copy-link")?.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(location.href);
    toast("Link copied: it opens this comparison.");
  } catch {
    toast(`Copy this link: ${location.href}`, { ms: 9000 });
  }
});
bindModeSwitch(load);
if (!isShared)
  setupPicker().catch((err) => toast(`Could not list projects: ${err.message}`, { kind: "error" }));
const savedId = body.dataset.comparisonId || params.get("comparison");
if (savedId)
  restore(savedId)
    .catch((err) => toast(`Could not open the saved comparison: ${err.message}`, { kind: "error" }))
    .finally(load);
else load();
