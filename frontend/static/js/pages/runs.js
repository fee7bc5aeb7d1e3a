// A project's runs: filter, sort, select to compare, cancel and re-run. Refreshes while any
// shown run is queued or running.

import { apiUrl, get } from "../api.js";
import { setUrlParams } from "../controls.js";
import { h, replace } from "../dom.js";
import { canEdit } from "../roles.js";
import { COLUMNS, matchesText, sortRows } from "../runs_table.js";
import { ACTIVE_STATUSES, emptyState, errorState, STATUSES, sortHeader, statusLabel } from "../ui.js";

const projectId = document.body.dataset.projectId;
const REFRESH_MS = 3000;
const PAGE = 500;
const params = new URLSearchParams(location.search);
const state = {
  rows: [],
  total: 0,
  status: new Set(params.getAll("status")),
  optimizer: params.get("optimizer") || "",
  tag: params.get("tag") || "",
  createdBy: params.get("created_by") || "",
  text: params.get("q") || "",
  sort: { key: params.get("sort") || "", dir: params.get("dir") || "desc" },
  selected: new Set(),
};
const box = document.getElementById("runs");
let timer = null;

// Table columns the server sorts the export by (GET /runs' `sort`) much as the table does
// (status is not one: the table orders statuses by lifecycle, the server by name).
const EXPORT_SORTS = { name: "name", optimizer: "optimizer", created_by: "created_by" };

function filterQuery() {
  return {
    status: [...state.status],
    optimizer: state.optimizer,
    tag: state.tag,
    created_by: state.createdBy,
  };
}

// "Export CSV" carries the filters the table was loaded with and its sort where the server
// can sort by that column (else the list's own order, newest first). The text search only
// narrows the rows on screen, so it does not apply to the export.
function updateExportLink() {
  const field = EXPORT_SORTS[state.sort.key];
  const sort = field ? `${state.sort.dir === "asc" ? "" : "-"}${field}` : undefined;
  const query = { format: "csv", project_id: projectId, ...filterQuery(), sort };
  document.getElementById("export-runs").href = apiUrl("/runs/export", query);
}

function filtersActive() {
  return state.status.size || state.optimizer || state.tag || state.createdBy || state.text;
}

async function load() {
  clearTimeout(timer);
  try {
    const query = { ...filterQuery(), limit: PAGE };
    const page = await get(`/views/projects/${projectId}/runs`, query);
    state.rows = page.items;
    state.total = page.total;
    rememberCreators(page.items);
    if (!box.querySelector(".confirming")) render(); // never under a pending confirm click
  } catch (err) {
    replace(box, errorState(err.message, load));
  }
  const live = state.rows.some((r) => ACTIVE_STATUSES.includes(r.run.status));
  if (live) timer = setTimeout(load, REFRESH_MS);
}

// The creators seen so far offer themselves as the "Created by" filter's suggestions.
const creators = new Set();
function rememberCreators(rows) {
  const before = creators.size;
  for (const r of rows) if (r.run.created_by) creators.add(r.run.created_by);
  if (creators.size === before) return;
  const names = [...creators].sort((a, b) => a.localeCompare(b));
  replace(
    document.getElementById("creator-names"),
    names.map((name) => h("option", { value: name })),
  );
}

function header() {
  const all = h("input", { type: "checkbox", "aria-label": "Select all shown runs" });
  all.addEventListener("change", () => {
    for (const r of visibleRows())
      all.checked ? state.selected.add(r.run.id) : state.selected.delete(r.run.id);
    render();
  });
  const cells = COLUMNS.map((column) => sortHeader(column, state.sort, toggleSort));
  return h("tr", {}, h("th", { style: { width: "32px" } }, all), cells);
}

function toggleSort(id) {
  const dir = state.sort.key === id && state.sort.dir === "desc" ? "asc" : "desc";
  state.sort = { key: id, dir };
  setUrlParams({ sort: id, dir });
  render();
}

function visibleRows() {
  return sortRows(
    state.rows.filter((r) => matchesText(r, state.text)),
    state.sort,
  );
}

function bodyRow(row) {
  const id = row.run.id;
  const check = h("input", {
    type: "checkbox",
    checked: state.selected.has(id),
    "aria-label": `Select ${row.run.name}`,
  });
  check.addEventListener("change", () => {
    check.checked ? state.selected.add(id) : state.selected.delete(id);
    render();
  });
  const cells = COLUMNS.map(([, , , cell, cls]) => h("td", { class: cls || "" }, cell(row, load)));
  return h(
    "tr",
    { class: state.selected.has(id) ? "selected" : "", dataset: { run: id } },
    h("td", {}, check),
    cells,
  );
}

function emptyView() {
  if (filtersActive()) {
    return emptyState(
      "No runs match these filters",
      "Change or clear the filters to see more runs.",
      h("button", { class: "btn", type: "button", onclick: clearFilters }, "Clear filters"),
    );
  }
  return emptyState(
    "No runs yet",
    "Submit a training job from the browser, or log a run from your own script:",
    h(
      "pre",
      {},
      `import lionlab\nrun = lionlab.init(project="${document.querySelector("h1").textContent}", optimizer="lion")\nrun.log({"train_loss": loss}, step=step)`,
    ),
    h(
      "div",
      { style: { marginTop: "14px" } },
      canEdit ? h("a", { class: "btn btn-primary", href: `/projects/${projectId}/submit` }, "Submit a job") : null,
    ),
  );
}

function render() {
  updateExportLink();
  const rows = visibleRows();
  const shown =
    state.total > state.rows.length ? `first ${state.rows.length} of ${state.total}` : `${rows.length}`;
  document.getElementById("run-count").textContent = state.total
    ? `${shown} run${state.total === 1 ? "" : "s"}`
    : "";
  const compare = document.getElementById("compare-selected");
  compare.textContent = state.selected.size
    ? `Compare selected (${state.selected.size})`
    : "Compare selected";
  compare.setAttribute("aria-disabled", String(!state.selected.size));
  compare.href = `/compare?runs=${[...state.selected].join(",")}`;
  if (!rows.length) return replace(box, emptyView());
  replace(
    box,
    h(
      "table",
      { class: "data", id: "runs-table" },
      h("thead", {}, header()),
      h("tbody", {}, rows.map(bodyRow)),
    ),
  );
}

function clearFilters() {
  state.status.clear();
  state.optimizer = state.tag = state.createdBy = state.text = "";
  renderFilters();
  syncFilters();
}

function syncFilters() {
  setUrlParams({
    optimizer: state.optimizer,
    tag: state.tag,
    created_by: state.createdBy,
    q: state.text,
  });
  const url = new URL(location.href);
  url.searchParams.delete("status");
  for (const s of state.status) url.searchParams.append("status", s);
  history.replaceState(null, "", url);
  load();
}

function renderFilters() {
  const chips = STATUSES.map((s) => {
    const chip = h(
      "button",
      { type: "button", class: `chip${state.status.has(s) ? " on" : ""}`, dataset: { status: s } },
      statusLabel(s),
    );
    chip.addEventListener("click", () => {
      state.status.has(s) ? state.status.delete(s) : state.status.add(s);
      chip.classList.toggle("on");
      syncFilters();
    });
    return chip;
  });
  replace(document.getElementById("filter-status"), chips);
  document.getElementById("filter-optimizer").value = state.optimizer;
  document.getElementById("filter-tag").value = state.tag;
  document.getElementById("filter-created-by").value = state.createdBy;
  document.getElementById("filter-text").value = state.text;
}

function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

renderFilters();
document.getElementById("filter-optimizer").addEventListener("change", (e) => {
  state.optimizer = e.target.value;
  syncFilters();
});
document.getElementById("filter-tag").addEventListener(
  "input",
  debounce((e) => {
    state.tag = e.target.value.trim();
    syncFilters();
  }, 350),
);
document.getElementById("filter-created-by").addEventListener(
  "input",
  debounce((e) => {
    state.createdBy = e.target.value.trim();
    syncFilters();
  }, 350),
);
document.getElementById("filter-text").addEventListener("input", (e) => {
  state.text = e.target.value.trim();
  setUrlParams({ q: state.text });
  render();
});
load();
