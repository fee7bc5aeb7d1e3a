// Compare, "Group by" mode: the selected runs pooled by their values of chosen parameters
// (default optimizer and lr, so seeds pool), each group drawn as its mean across runs with a
// filled band (min–max or ± sd) in the group's colour, and a table of the groups' final and
// best values with their spread. The server answers arrays (/views/compare/groups); the
// traces are built here. The URL holds the mode and the choices: ?view=groups&by=..&key=..
// &band=sd&gx=wall&glog=1.

import { get } from "./api.js";
import { PLOT_CONFIG } from "./chart.js";
import { setUrlParams } from "./controls.js";
import { h, replace } from "./dom.js";
import { fmtValue } from "./format.js";
import { baseLayout } from "./layer_charts.js";
import { plotlyReady } from "./plotly_loader.js";
import { emptyState, errorState } from "./ui.js";

const BANDS = [
  ["minmax", "Min–max"],
  ["sd", "± sd"],
];
const X_MODES = [
  ["step", "Step"],
  ["wall", "Time"],
];
const DRAWN_MARK = "lionlab:groups-drawn";
const CHART_HEIGHT = 420; // one chart for the page: taller than a grid cell (.chart, 300px)

export function groupMode() {
  return new URLSearchParams(location.search).get("view") === "groups";
}

function choicesFromUrl() {
  const p = new URLSearchParams(location.search);
  return {
    by: p.getAll("by").filter(Boolean),
    key: p.get("key") || null,
    band: p.get("band") === "sd" ? "sd" : "minmax",
    x: p.get("gx") === "wall" ? "wall" : "step",
    logY: p.get("glog") === "1",
  };
}

function setByInUrl(by) {
  const url = new URL(location.href);
  url.searchParams.delete("by");
  for (const key of by) url.searchParams.append("by", key);
  history.replaceState(null, "", url);
}

// Binds the page's Runs | Groups switch (#compare-mode); `reload` redraws the page.
export function bindModeSwitch(reload) {
  const root = document.getElementById("compare-mode");
  if (!root) return;
  const buttons = [...root.querySelectorAll("button")];
  const mark = () => {
    for (const b of buttons) b.classList.toggle("on", (b.dataset.mode === "groups") === groupMode());
  };
  mark();
  root.addEventListener("click", (event) => {
    const mode = event.target.dataset?.mode;
    if (!mode || (mode === "groups") === groupMode()) return;
    setUrlParams({ view: mode === "groups" ? "groups" : null });
    mark();
    reload();
  });
}

function rgba(hex, alpha) {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

function runsText(n) {
  return `(${n} run${n === 1 ? "" : "s"})`;
}

// Three traces per group: the band's lower edge, its upper edge filled down to it, the mean.
export function groupTraces(groups) {
  return groups.flatMap((g) => {
    const { x, lower, upper, mean, n, sd } = g.curve;
    const edge = { x, mode: "lines", line: { width: 0, color: g.color }, hoverinfo: "skip", showlegend: false };
    return [
      { ...edge, y: lower, legendgroup: g.label, name: `${g.label} lower` },
      { ...edge, y: upper, legendgroup: g.label, name: `${g.label} upper`, fill: "tonexty", fillcolor: rgba(g.color, 0.18) },
      {
        x,
        y: mean,
        mode: "lines",
        name: `${g.label} ${runsText(g.count)}`,
        legendgroup: g.label,
        line: { width: 2, color: g.color },
        customdata: n.map((k, i) => [k, sd[i]]),
        hovertemplate: "%{y:.4g} (n=%{customdata[0]}, sd=%{customdata[1]:.3g})",
      },
    ];
  });
}

function spread(s) {
  if (!s.n) return h("span", { class: "muted" }, s.nonfinite ? `${s.nonfinite} non-finite` : "—");
  const sd = s.sd === null ? "" : ` ± ${fmtValue(s.sd)}`;
  return h(
    "span",
    {},
    `${fmtValue(s.mean)}${sd}`,
    h("span", { class: "muted" }, ` [${fmtValue(s.min)}, ${fmtValue(s.max)}]`),
  );
}

function groupsTable(data) {
  const best = data.best === "max" ? "Best (max)" : "Best (min)";
  const rows = data.groups.map((g) =>
    h(
      "tr",
      { dataset: { group: g.label } },
      h("td", {}, h("span", { class: "swatch", style: { background: g.color } }), " ", g.label),
      h("td", { class: "right num" }, String(g.count)),
      h("td", { class: "right num" }, spread(g.final)),
      h("td", { class: "right num", dataset: { n: g.final.n } }, String(g.final.n)),
      h("td", { class: "right num" }, spread(g.best)),
      h("td", { class: "right num", dataset: { n: g.best.n } }, String(g.best.n)),
    ),
  );
  const head = h(
    "tr",
    {},
    ["Group", "Runs", "Final: mean ± sd [min, max]", "n", `${best}: mean ± sd [min, max]`, "n"].map((t, i) =>
      h("th", { class: i ? "right" : "" }, t),
    ),
  );
  return h(
    "div",
    { class: "card", id: "groups-table" },
    h(
      "div",
      { class: "card-head" },
      h("h2", {}, `${data.key}: final and best values`),
      h("span", { class: "muted" }, "Across each group's runs; sd is the sample sd; non-finite values are counted, not averaged."),
    ),
    h("div", { class: "table-wrap" }, h("table", { class: "data" }, h("thead", {}, head), h("tbody", {}, rows))),
  );
}

function segmented(label, options, current, pick) {
  const buttons = options.map(([value, text]) =>
    h("button", { type: "button", class: value === current ? "on" : "", dataset: { value } }, text),
  );
  const group = h("div", { class: "segmented", role: "group", "aria-label": label }, buttons);
  group.addEventListener("click", (event) => {
    const value = event.target.dataset?.value;
    if (value && value !== current) pick(value);
  });
  return h("div", { class: "group" }, h("span", { class: "label" }, label), group);
}

function toolbar(data, choices, redraw) {
  const metric = h(
    "select",
    { id: "groups-metric", "aria-label": "Metric" },
    data.keys.map((k) => h("option", { value: k, selected: k === data.key }, k)),
  );
  metric.addEventListener("change", () => redraw({ key: metric.value }));
  const by = h(
    "select",
    {
      id: "groups-by",
      multiple: true,
      size: Math.min(3, data.params.length) || 1,
      "aria-label": "Group by",
      title: "Ctrl- or Cmd-click to group by several parameters (at most 4)",
      style: { minWidth: "160px" },
    },
    data.params.map((k) => h("option", { value: k, selected: data.by.includes(k) }, k)),
  );
  by.addEventListener("change", () => {
    const picked = [...by.selectedOptions].map((o) => o.value).slice(0, 4);
    if (picked.length) redraw({ by: picked });
  });
  // a diverged group's band can span orders of magnitude and flatten the others: log y
  const logBox = h("input", { type: "checkbox", id: "groups-log-y", checked: choices.logY });
  logBox.addEventListener("change", () => redraw({ logY: logBox.checked }));
  return h(
    "div",
    { class: "card", id: "groups-controls" },
    h(
      "div",
      { class: "toolbar" },
      h("div", { class: "group" }, h("label", { class: "label", for: "groups-metric" }, "Metric"), metric),
      h("div", { class: "group" }, h("label", { class: "label", for: "groups-by" }, "Group by"), by),
      segmented("Band", BANDS, choices.band, (band) => redraw({ band })),
      segmented("X axis", X_MODES, choices.x, (x) => redraw({ x })),
      h("label", { class: "check" }, logBox, "Log scale"),
    ),
  );
}

// Draws the grouped comparison of `runIds` into `body`; `selection` names the runs pooled.
export async function showGroups(body, selection, runIds) {
  const choices = choicesFromUrl();
  replace(selection, h("span", { class: "muted" }, `${runIds.length} runs selected, pooled into groups.`));
  replace(body, h("div", { class: "card" }, h("div", { class: "card-body" }, h("div", { class: "skeleton chart" }))));
  const redraw = (change) => {
    Object.assign(choices, change);
    if (change.by) setByInUrl(change.by);
    setUrlParams({
      key: choices.key,
      band: choices.band === "sd" ? "sd" : null,
      gx: choices.x === "wall" ? "wall" : null,
      glog: choices.logY ? "1" : null,
    });
    showGroups(body, selection, runIds);
  };
  let data;
  try {
    const points = Math.max(100, Math.min(600, Math.round((body.clientWidth - 88) / 2)));
    const query = { run: runIds, by: choices.by, key: choices.key, band: choices.band, x: choices.x, points };
    [data] = await Promise.all([get("/views/compare/groups", query), plotlyReady()]);
  } catch (err) {
    replace(body, h("div", { class: "card" }, errorState(err.message, () => showGroups(body, selection, runIds))));
    return;
  }
  choices.key = data.key;
  if (!data.key) {
    replace(body, h("div", { class: "card" }, emptyState("No metrics", "None of these runs has logged metrics yet.")));
    return;
  }
  const plot = h("div", { class: "chart", id: "groups-chart", style: { height: `${CHART_HEIGHT}px` } });
  const chartCard = h("div", { class: "card chart-card" }, plot);
  replace(body, toolbar(data, choices, redraw), chartCard, groupsTable(data));
  const xTitle = data.x === "wall" ? "seconds since each run's first point" : "step";
  const layout = baseLayout(`${data.key} by ${data.by.join(", ")}`, data.key, { height: CHART_HEIGHT, legend: true });
  layout.xaxis.title.text = xTitle;
  // linear by default: a band may reach zero or below, which a log axis cannot show
  layout.yaxis.type = choices.logY ? "log" : "linear";
  await window.Plotly.react(plot, groupTraces(data.groups), layout, PLOT_CONFIG);
  plot.dataset.drawn = "1";
  if (!performance.getEntriesByName(DRAWN_MARK).length) performance.mark(DRAWN_MARK);
}
