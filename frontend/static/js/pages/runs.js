// A project's runs, one page at a time: the server filters, searches, sorts and pages them
// (GET /views/projects/{id}/runs), so a project of 10,000 runs reads like one of ten. Columns
// for config keys and metric summaries can be added; the whole table state lives in the URL.
// Select runs to compare (across pages), cancel and re-run. Refreshes the page shown while
// any of its runs is queued or running.

import { ApiError, apiUrl, get } from "../api.js";
import { h, replace } from "../dom.js";
import { clearFieldErrors, showFieldErrors } from "../field_errors.js";
import { fmtInt } from "../format.js";
import { canEdit } from "../roles.js";
import { columnLabel, parseColumn, tableColumns } from "../runs_table.js";
import { ACTIVE_STATUSES, emptyState, errorState, STATUSES, sortHeader, statusLabel } from "../ui.js";

const projectId = document.body.dataset.projectId;
const REFRESH_MS = 3000;
const PAGE_SIZES = [50, 100, 200];
const DEFAULT_SIZE = 100;
const DEFAULT_SORT = { key: "created_at", dir: "desc" };
const SUMMARIES = ["last", "min", "max"];
const box = document.getElementById("runs");
const pager = document.getElementById("runs-pager");
const filterForm = document.getElementById("filter-form");
// The selection (run ids, on any page) lasts as long as the tab: reloads and back/forward.
const SELECTED_KEY = `lionlab.runs.selected.${projectId}`;
const state = {
  rows: [],
  total: 0,
  selected: new Set(storedSelection()),
  available: { params: [], metrics: [], loss_key: null }, // GET .../columns
  ...fromUrl(),
};
let timer = null;
let inFlight = null;

function storedSelection() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(SELECTED_KEY) || "[]");
    return Array.isArray(ids) ? ids.filter(Number.isInteger) : [];
  } catch {
    return [];
  }
}

// The table state a URL names (status, optimizer, tag, created_by, q, filter, sort + dir,
// page, size, col); anything malformed falls back to the default.
function fromUrl() {
  const p = new URLSearchParams(location.search);
  const size = Number.parseInt(p.get("size"), 10);
  const page = Number.parseInt(p.get("page"), 10);
  return {
    status: new Set(p.getAll("status").filter((s) => STATUSES.includes(s))),
    optimizer: p.get("optimizer") || "",
    tag: p.get("tag") || "",
    createdBy: p.get("created_by") || "",
    text: p.get("q") || "",
    filter: p.get("filter") || "",
    sort: p.get("sort") ? { key: p.get("sort"), dir: p.get("dir") === "asc" ? "asc" : "desc" } : DEFAULT_SORT,
    page: Number.isFinite(page) && page >= 1 ? page : 1,
    size: PAGE_SIZES.includes(size) ? size : DEFAULT_SIZE,
    columns: [...new Set(p.getAll("col").filter(parseColumn))],
  };
}

// Writes the state into the URL: a new history entry for a step a reader may want to go back
// from (page, sort, size, columns), the same entry for typing in a filter.
function toUrl(push) {
  const url = new URL(location.href);
  const sorted = state.sort.key !== DEFAULT_SORT.key || state.sort.dir !== DEFAULT_SORT.dir;
  const values = {
    optimizer: state.optimizer,
    tag: state.tag,
    created_by: state.createdBy,
    q: state.text,
    filter: state.filter,
    sort: sorted ? state.sort.key : "",
    dir: sorted ? state.sort.dir : "",
    page: state.page > 1 ? state.page : "",
    size: state.size !== DEFAULT_SIZE ? state.size : "",
  };
  for (const [key, value] of Object.entries(values)) {
    if (value === "") url.searchParams.delete(key);
    else url.searchParams.set(key, value);
  }
  for (const [key, list] of [
    ["status", [...state.status]],
    ["col", state.columns],
  ]) {
    url.searchParams.delete(key);
    for (const v of list) url.searchParams.append(key, v);
  }
  if (url.href === location.href) return;
  push ? history.pushState(null, "", url) : history.replaceState(null, "", url);
}

function columns() {
  return tableColumns(state.available.loss_key, state.columns);
}

// The server's `sort` for the table's: the column's field, "-" for descending; the default
// order when the column (no longer) sorts, e.g. a loss column before the loss key is known.
function serverSort() {
  const column = columns().find((c) => c[0] === state.sort.key && c[2]);
  const sort = column ? state.sort : DEFAULT_SORT;
  const field = column ? column[2] : DEFAULT_SORT.key;
  return `${sort.dir === "asc" ? "" : "-"}${field}`;
}

function filterQuery() {
  return {
    status: [...state.status],
    optimizer: state.optimizer,
    tag: state.tag,
    created_by: state.createdBy,
    q: state.text,
    filter: state.filter,
    sort: serverSort(),
  };
}

// "Export CSV" carries what selects and orders the table's rows (every page of them).
function updateExportLink() {
  const query = { format: "csv", project_id: projectId, ...filterQuery() };
  document.getElementById("export-runs").href = apiUrl("/runs/export", query);
}

function filtersActive() {
  return state.status.size || state.optimizer || state.tag || state.createdBy || state.text || state.filter;
}

function pages() {
  return Math.max(1, Math.ceil(state.total / state.size));
}

function setBusy(busy) {
  box.setAttribute("aria-busy", String(busy));
  box.classList.toggle("loading", busy && state.rows.length > 0);
}

// Loads the current page; `quiet` for the live refresh (no loading state).
async function load({ quiet = false } = {}) {
  clearTimeout(timer);
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  if (!quiet) setBusy(true);
  updateExportLink();
  const query = {
    ...filterQuery(),
    limit: state.size,
    offset: (state.page - 1) * state.size,
    columns: state.columns,
  };
  let page;
  try {
    page = await get(`/views/projects/${projectId}/runs`, query, { signal: controller.signal });
  } catch (err) {
    if (err.name === "AbortError") return;
    inFlight = null;
    setBusy(false);
    return refused(err);
  }
  inFlight = null;
  clearFieldErrors(filterForm);
  if (page.total && query.offset >= page.total) {
    state.page = Math.ceil(page.total / state.size); // past the end: the last page
    toUrl(false);
    return load();
  }
  state.rows = page.items;
  state.total = page.total;
  rememberCreators(page.items);
  setBusy(false);
  document.body.dataset.loaded = "1";
  if (!box.querySelector(".confirming")) render(); // never under a pending confirm click
  const live = state.rows.some((r) => ACTIVE_STATUSES.includes(r.run.status));
  if (live) timer = setTimeout(() => load({ quiet: true }), REFRESH_MS);
}

// A refusal naming the filter expression (or another query parameter) shows at the filter
// box; anything else replaces the table with the error and a retry.
function refused(err) {
  clearFieldErrors(filterForm);
  const fallback = document.getElementById("query-errors");
  if (!(err instanceof ApiError) || err.status !== 422 || !err.detail.length) {
    fallback.replaceChildren();
    replace(box, errorState(err.message, () => load()));
    renderPager();
    return;
  }
  showFieldErrors(filterForm, err.detail, fallback);
  state.rows = [];
  state.total = 0;
  renderPager();
  replace(
    box,
    emptyState(
      "These filters were refused",
      "Correct them as the message above says, or clear them.",
      h("button", { class: "btn", type: "button", onclick: clearFilters }, "Clear filters"),
    ),
  );
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

function header(cols) {
  const shown = state.rows.map((r) => r.run.id);
  const all = h("input", {
    type: "checkbox",
    "aria-label": "Select all runs on this page",
    checked: shown.length > 0 && shown.every((id) => state.selected.has(id)),
  });
  all.addEventListener("change", () => {
    for (const id of shown) all.checked ? state.selected.add(id) : state.selected.delete(id);
    render();
  });
  const cells = cols.map((column) => sortHeader(column, state.sort, toggleSort));
  return h("tr", {}, h("th", { style: { width: "32px" } }, all), cells);
}

function toggleSort(id) {
  const dir = state.sort.key === id && state.sort.dir === "desc" ? "asc" : "desc";
  state.sort = { key: id, dir };
  state.page = 1;
  toUrl(true);
  load();
}

function bodyRow(row, cols) {
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
  const refresh = () => load({ quiet: true });
  const cells = cols.map(([, , , cell, cls]) => h("td", { class: cls || "" }, cell(row, refresh)));
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

function renderSelection() {
  const n = state.selected.size;
  try {
    sessionStorage.setItem(SELECTED_KEY, JSON.stringify([...state.selected]));
  } catch {
    // storage full or off: the selection lasts until the page is left
  }
  const compare = document.getElementById("compare-selected");
  compare.textContent = n ? `Compare selected (${n})` : "Compare selected";
  compare.setAttribute("aria-disabled", String(!n));
  compare.href = `/compare?runs=${[...state.selected].join(",")}`;
  const clear = document.getElementById("clear-selection");
  clear.hidden = !n;
  clear.title = n ? `Unselect the ${n} selected run${n === 1 ? "" : "s"} (on any page)` : "";
}

function pageButton(label, target, id, ariaLabel) {
  const disabled = target < 1 || target > pages() || target === state.page;
  return h(
    "button",
    {
      class: "btn btn-sm",
      type: "button",
      id,
      disabled,
      "aria-label": ariaLabel,
      onclick: () => goTo(target),
    },
    label,
  );
}

function goTo(page) {
  state.page = Math.min(Math.max(1, page), pages());
  toUrl(true);
  load();
}

function renderPager() {
  if (!state.total) {
    pager.hidden = true;
    return;
  }
  pager.hidden = false;
  const first = (state.page - 1) * state.size + 1;
  const last = first + state.rows.length - 1;
  const size = h(
    "select",
    { id: "page-size", "aria-label": "Rows per page" },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.size }, `${n} per page`)),
  );
  size.addEventListener("change", () => {
    const firstRow = (state.page - 1) * state.size;
    state.size = Number(size.value);
    state.page = Math.floor(firstRow / state.size) + 1; // the page holding the same first row
    toUrl(true);
    load();
  });
  replace(
    pager,
    pageButton("« First", 1, "page-first", "First page"),
    pageButton("‹ Previous", state.page - 1, "page-prev", "Previous page"),
    h(
      "span",
      { class: "pager-status", id: "page-status" },
      `Page ${fmtInt(state.page)} of ${fmtInt(pages())} · rows ${fmtInt(first)}–${fmtInt(last)} of ${fmtInt(state.total)}`,
    ),
    pageButton("Next ›", state.page + 1, "page-next", "Next page"),
    pageButton("Last »", pages(), "page-last", "Last page"),
    h("span", { style: { flex: "1" } }),
    size,
  );
}

function render() {
  updateExportLink();
  renderSelection();
  renderPager();
  document.getElementById("run-count").textContent = state.total
    ? `${fmtInt(state.total)} run${state.total === 1 ? "" : "s"}`
    : "";
  if (!state.rows.length) return replace(box, emptyView());
  const cols = columns();
  replace(
    box,
    h(
      "table",
      { class: "data", id: "runs-table" },
      h("thead", {}, header(cols)),
      h(
        "tbody",
        {},
        state.rows.map((row) => bodyRow(row, cols)),
      ),
    ),
  );
  // The first drawn page, for bench/runs_page.py (as chart_grid.js marks its first chart).
  if (!performance.getEntriesByName("lionlab:table-drawn").length) {
    performance.mark("lionlab:table-drawn");
  }
}

function clearFilters() {
  state.status.clear();
  state.optimizer = state.tag = state.createdBy = state.text = state.filter = "";
  renderFilters();
  syncFilters();
}

// A filter changed: back to the first page of what it selects.
function syncFilters() {
  state.page = 1;
  toUrl(false);
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
  document.getElementById("filter-expr").value = state.filter;
}

// ---- column chooser ------------------------------------------------------------------------

function toggleColumn(id, on) {
  state.columns = on ? [...state.columns, id] : state.columns.filter((c) => c !== id);
  if (!on && state.sort.key === id) state.sort = DEFAULT_SORT;
  renderChooser();
  toUrl(true);
  load();
}

function chooserOption(id, label) {
  const box = h("input", { type: "checkbox", checked: state.columns.includes(id), dataset: { column: id } });
  box.addEventListener("change", () => toggleColumn(id, box.checked));
  return h("label", { class: "check" }, box, label);
}

function renderChooser() {
  const search = document.getElementById("column-search").value.trim().toLowerCase();
  const matches = (key) => !search || key.toLowerCase().includes(search);
  const { params, metrics } = state.available;
  // chosen columns the project no longer offers stay listed, so they can be removed
  const extraParams = state.columns.filter((c) => c.startsWith("param:")).map((c) => c.slice(6));
  const paramKeys = [...new Set([...params, ...extraParams])].filter(matches);
  const extraMetrics = state.columns.map(parseColumn).filter((c) => c?.kind === "metric");
  const metricKeys = [...new Set([...metrics, ...extraMetrics.map((c) => c.key)])].filter(matches);
  const paramList = paramKeys.length
    ? paramKeys.map((k) => chooserOption(`param:${k}`, h("span", { class: "mono" }, k)))
    : [h("div", { class: "faint" }, params.length ? "No parameter matches." : "No parameters logged yet.")];
  const metricList = metricKeys.length
    ? metricKeys.map((k) =>
        h(
          "div",
          { class: "chooser-metric" },
          h("span", { class: "mono" }, k),
          SUMMARIES.map((s) => chooserOption(`metric:${k}.${s}`, s)),
        ),
      )
    : [h("div", { class: "faint" }, metrics.length ? "No metric matches." : "No metrics logged yet.")];
  replace(
    document.getElementById("column-options"),
    h("div", { class: "chooser-group" }, h("div", { class: "chooser-title" }, "Parameters"), paramList),
    h("div", { class: "chooser-group" }, h("div", { class: "chooser-title" }, "Metrics"), metricList),
  );
  const n = state.columns.length;
  document.getElementById("column-chooser-label").textContent = n ? `Columns (${n})` : "Columns";
  document.getElementById("column-chooser").title = n ? state.columns.map(columnLabel).join(", ") : "";
}

async function loadAvailable() {
  try {
    state.available = await get(`/views/projects/${projectId}/columns`);
  } catch (err) {
    replace(document.getElementById("column-options"), h("div", { class: "callout error" }, err.message));
    return;
  }
  renderChooser();
}

// ---- wiring --------------------------------------------------------------------------------

function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

function onText(id, set, ms = 350) {
  document.getElementById(id).addEventListener(
    "input",
    debounce((e) => {
      const value = e.target.value.trim();
      if (set(value)) syncFilters();
    }, ms),
  );
}

function changed(key) {
  return (value) => {
    if (state[key] === value) return false;
    state[key] = value;
    return true;
  };
}

renderFilters();
document.getElementById("filter-optimizer").addEventListener("change", (e) => {
  state.optimizer = e.target.value;
  syncFilters();
});
onText("filter-tag", changed("tag"));
onText("filter-created-by", changed("createdBy"));
onText("filter-text", changed("text"));
// The filter expression goes to the server on Enter or when the box is left (not while it
// is typed: a half-written expression is an error).
function applyFilter() {
  const value = document.getElementById("filter-expr").value.trim();
  if (changed("filter")(value)) syncFilters();
}
filterForm.addEventListener("submit", (e) => {
  e.preventDefault();
  applyFilter();
});
document.getElementById("filter-expr").addEventListener("change", applyFilter);
document.getElementById("filter-expr").addEventListener("search", applyFilter); // its clear (x)
document.getElementById("column-search").addEventListener("input", renderChooser);
document.getElementById("clear-selection").addEventListener("click", () => {
  state.selected.clear();
  render();
});
window.addEventListener("popstate", () => {
  Object.assign(state, fromUrl());
  renderFilters();
  renderChooser();
  load();
});

// The loss columns sort by the project's loss key: known before the first page loads when the
// URL sorts by one of them.
const available = loadAvailable();
if (["best_loss", "last_loss"].includes(state.sort.key)) available.then(() => load());
else load();
