// Per-layer statistics as plotly figures, built on the client from the distribution view
// (GET /api/v1/runs/{id}/layers/{stat}): nested percentile bands across layers over steps,
// a layers x steps heatmap, and (compare) one 16–84 band and median per run.
//
// A view column covers steps band_first_step[c]..band_last_step[c]; band_lo[c][j] is the
// lowest value percentile j took in it and band_hi[c][j] the highest, so a band from
// percentile a to b is drawn from band_lo[.][a] up to band_hi[.][b]: the downsampled view
// never hides a value the full-detail one shows. Axes are logarithmic: a 0 sits at the
// bottom of the axis (the lowest colour in the heatmap) and its hover says "0".

import { h } from "./dom.js";
import { fmtInt, fmtValue } from "./format.js";

export const LAYER_STATS = [
  ["grad_norm", "Grad norm", "gradient norm"],
  ["update_ratio", "Update ratio", "update ratio ‖Δθ‖/‖θ‖"],
  ["update_rms", "Step per weight", "update RMS ‖Δθ‖/√n"],
  ["param_norm", "Param norm", "parameter norm"],
];
export const DEFAULT_STAT = "grad_norm";

// The statistic buttons: those not in `available` disabled with `missing` as their title;
// `pick(stat)` is called when another available one is chosen.
export function statSelector({ id, current, available, missing, pick }) {
  const buttons = LAYER_STATS.map(([stat, label]) =>
    h(
      "button",
      {
        type: "button",
        class: stat === current ? "on" : "",
        dataset: { stat },
        disabled: !available.includes(stat),
        title: available.includes(stat) ? null : missing,
      },
      label,
    ),
  );
  const selector = h("div", { class: "segmented", role: "group", "aria-label": "Statistic", id }, buttons);
  selector.addEventListener("click", (event) => {
    const stat = event.target.closest("button")?.dataset.stat;
    if (!stat || !available.includes(stat) || event.target.closest("button").classList.contains("on"))
      return;
    for (const b of buttons) b.classList.toggle("on", b.dataset.stat === stat);
    pick(stat);
  });
  return selector;
}

const FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
const INK = "#212529";
const MUTED = "#6c757d";
const GRID = "#eef0f3";
const AXIS_LINE = "#ced4da";

// The nested bands, outermost first: [low percentile, high percentile, legend, fill colour].
const BANDS = [
  [0, 100, "min–max", "#fde6d5"],
  [7, 93, "7–93%", "#f9c29c"],
  [16, 84, "16–84%", "#f29560"],
];
const MEDIAN_COLOR = "#a63a06";
// The heatmap's colours (low to high), light to dark in the brand's orange.
const HEAT_SCALE = [
  [0, "#fff7ec"],
  [0.2, "#fee8c8"],
  [0.4, "#fdbb84"],
  [0.6, "#fc8d59"],
  [0.8, "#d7301f"],
  [1, "#7f0000"],
];

export function statLabel(stat) {
  return LAYER_STATS.find(([s]) => s === stat)?.[1] || stat;
}

export function statAxisTitle(stat) {
  return LAYER_STATS.find(([s]) => s === stat)?.[2] || stat;
}

// The layout every layer chart shares (the server's views/style.py base_layout, in JS).
export function baseLayout(title, yTitle, { height = 300, legend = false, margin = {} } = {}) {
  const axis = {
    gridcolor: GRID,
    linecolor: AXIS_LINE,
    showline: true,
    zeroline: false,
    ticks: "outside",
    tickcolor: AXIS_LINE,
    automargin: true,
  };
  return {
    title: {
      text: title,
      x: 0,
      xanchor: "left",
      yref: "container",
      y: 0.98,
      yanchor: "top",
      automargin: true,
      font: { size: 14, color: INK },
    },
    font: { family: FONT, size: 12, color: INK },
    height,
    margin: { l: 56, r: 16, t: 40, b: 44, ...margin },
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    hovermode: "x unified",
    hoverlabel: {
      bgcolor: "rgba(255,255,255,0.95)",
      bordercolor: AXIS_LINE,
      font: { family: FONT, size: 12, color: INK },
    },
    modebar: { bgcolor: "rgba(255,255,255,0.8)", color: MUTED, activecolor: INK },
    showlegend: legend,
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11 } },
    xaxis: { ...axis, title: { text: "step", font: { color: MUTED } }, hoverformat: ",.0f" },
    yaxis: {
      ...axis,
      type: "log",
      exponentformat: "power",
      title: { text: yTitle, font: { color: MUTED } },
    },
  };
}

// Where each column sits on the step axis (its middle) and the steps it covers, as text.
export function columns(firsts, lasts) {
  const x = firsts.map((f, c) => (f + lasts[c]) / 2);
  const spans = firsts.map((f, c) =>
    f === lasts[c] ? `step ${fmtInt(f)}` : `steps ${fmtInt(f)}–${fmtInt(lasts[c])}`,
  );
  return { x, spans };
}

function percentileIndex(view, p) {
  const j = view.percentiles.indexOf(p);
  if (j < 0) throw new Error(`the view has no ${p}th percentile`);
  return j;
}

function smallestPositive(rows) {
  let min = Number.POSITIVE_INFINITY;
  for (const row of rows) for (const v of row) if (v !== null && v > 0 && v < min) min = v;
  return Number.isFinite(min) ? min : 1;
}

// A log axis cannot show 0: it is drawn a little below the smallest positive value.
function logFloor(view) {
  return Math.min(smallestPositive(view.band_lo), smallestPositive(view.band_hi)) / 4;
}

function edge(rows, j, floor) {
  return rows.map((row) => {
    const v = row[j];
    return v === null ? null : v > 0 ? v : floor;
  });
}

// The median line: the middle (on the log axis) of the median's range in each column.
function middle(lo, hi, floor) {
  return lo.map((a, c) => {
    const b = hi[c];
    if (a === null || b === null) return null;
    return Math.sqrt(Math.max(a, floor) * Math.max(b, floor));
  });
}

function between(lo, hi) {
  if (lo === null || hi === null) return "—";
  return lo === hi ? fmtValue(lo) : `${fmtValue(lo)} – ${fmtValue(hi)}`;
}

function bandHover(view, spans, label) {
  const rows = [...view.percentiles.keys()].reverse(); // max first
  const name = (p) => (p === 0 ? "min" : p === 100 ? "max" : p === 50 ? "median" : `p${p}`);
  return spans.map((span, c) => {
    const lines = rows.map((j) => {
      const p = view.percentiles[j];
      const text = `${name(p)} ${between(view.band_lo[c][j], view.band_hi[c][j])}`;
      return p === 50 ? `<b>${text}</b>` : text;
    });
    return `${span} · ${label} across ${fmtInt(view.names.length)} layers<br>${lines.join("<br>")}`;
  });
}

// The nested bands (min–max, 7–93, 16–84) and the median: 7 traces, edges without hover,
// the median carrying every percentile of its column in its hover.
export function bandTraces(view, label) {
  const { x, spans } = columns(view.band_first_step, view.band_last_step);
  const floor = logFloor(view);
  const traces = [];
  for (const [p0, p1, name, color] of BANDS) {
    const group = `${p0}-${p1}`;
    const common = {
      type: "scatter",
      mode: "lines",
      x,
      line: { width: 0, color },
      hoverinfo: "skip",
      legendgroup: group,
      connectgaps: false,
    };
    traces.push({
      ...common,
      y: edge(view.band_lo, percentileIndex(view, p0), floor),
      showlegend: false,
      meta: { role: "band-lo", band: group },
    });
    traces.push({
      ...common,
      y: edge(view.band_hi, percentileIndex(view, p1), floor),
      fill: "tonexty",
      fillcolor: color,
      name,
      meta: { role: "band-hi", band: group },
    });
  }
  const j50 = percentileIndex(view, 50);
  traces.push({
    type: "scatter",
    mode: "lines",
    x,
    y: middle(edge(view.band_lo, j50, floor), edge(view.band_hi, j50, floor), floor),
    line: { width: 1.6, color: MEDIAN_COLOR },
    name: "median",
    text: bandHover(view, spans, label),
    hovertemplate: "%{text}<extra></extra>",
    connectgaps: false,
    meta: { role: "median" },
  });
  return traces;
}

// One run's 16–84% band and median (compare), in its colour.
export function runBandTraces(view, { name, color, run }) {
  const { x, spans } = columns(view.band_first_step, view.band_last_step);
  const floor = logFloor(view);
  const [j16, j50, j84] = [16, 50, 84].map((p) => percentileIndex(view, p));
  const group = `run-${run}`;
  const lo = edge(view.band_lo, j16, floor);
  const hi = edge(view.band_hi, j84, floor);
  const hover = spans.map(
    (span, c) =>
      `${span} · median ${between(view.band_lo[c][j50], view.band_hi[c][j50])} · ` +
      `16–84% ${between(view.band_lo[c][j16], view.band_hi[c][j84])}`,
  );
  const common = { type: "scatter", mode: "lines", x, legendgroup: group, connectgaps: false };
  return [
    {
      ...common,
      y: lo,
      line: { width: 0, color },
      hoverinfo: "skip",
      showlegend: false,
      meta: { role: "band-lo", run },
    },
    {
      ...common,
      y: hi,
      line: { width: 0, color },
      fill: "tonexty",
      fillcolor: withAlpha(color, 0.18),
      hoverinfo: "skip",
      showlegend: false,
      meta: { role: "band-hi", run },
    },
    {
      ...common,
      y: middle(edge(view.band_lo, j50, floor), edge(view.band_hi, j50, floor), floor),
      line: { width: 1.8, color },
      name,
      text: hover,
      hovertemplate: `${escapeTemplate(name)}: %{text}<extra></extra>`,
      meta: { role: "median", run },
    },
  ];
}

// Plotly reads %{...} in a hover template: a run's name shows as it is.
function escapeTemplate(text) {
  return String(text).replace(/[%{}<>&]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function withAlpha(hex, alpha) {
  const m = /^#([0-9a-f]{6})$/i.exec(hex || "");
  if (!m) return hex;
  const n = Number.parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

// The heatmap: one row per layer (first layer on top), one column per view column; colour
// = log10 of each layer's largest value in the column. Nulls stay gaps; a 0 gets the lowest
// colour and says "0" in its hover.
export function heatmapTrace(view, label) {
  const { x, spans } = columns(view.heat_first_step, view.heat_last_step);
  const layers = view.names.length;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const row of view.heat)
    for (const v of row)
      if (v !== null && v > 0) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
  const zmin = Number.isFinite(lo) ? Math.log10(lo) : 0;
  const zmax = Number.isFinite(hi) ? Math.max(Math.log10(hi), zmin + 1e-6) : 1;
  const z = [];
  const text = [];
  for (let l = 0; l < layers; l++) {
    const zr = new Array(x.length);
    const tr = new Array(x.length);
    for (let c = 0; c < x.length; c++) {
      const v = view.heat[c][l];
      zr[c] = v === null ? null : v > 0 ? Math.log10(v) : zmin;
      tr[c] = v === null ? "not logged" : `${spans[c]}<br>${label} ${fmtValue(v)}`;
    }
    z.push(zr);
    text.push(tr);
  }
  return {
    type: "heatmap",
    x,
    y: view.names,
    z,
    text,
    zmin,
    zmax,
    colorscale: HEAT_SCALE,
    hoverongaps: false,
    hovertemplate: "<b>%{y}</b><br>%{text}<extra></extra>",
    colorbar: {
      title: { text: "max", side: "right", font: { color: MUTED, size: 11 } },
      thickness: 12,
      outlinewidth: 0,
      ...decadeTicks(zmin, zmax),
    },
    meta: { role: "heat" },
  };
}

// Colour bar ticks at powers of ten (the scale is log10 of the values).
function decadeTicks(zmin, zmax) {
  const first = Math.ceil(zmin);
  const last = Math.floor(zmax);
  if (last - first < 1) {
    const vals = [zmin, (zmin + zmax) / 2, zmax];
    return { tickvals: vals, ticktext: vals.map((z) => fmtValue(10 ** z, 3)) };
  }
  const step = Math.max(1, Math.ceil((last - first) / 6));
  const vals = [];
  for (let k = first; k <= last; k += step) vals.push(k);
  return { tickvals: vals, ticktext: vals.map((k) => `10<sup>${k}</sup>`) };
}

// A user's zoom from a plotly_relayout event: {start, end} steps, null for "whole run"
// (double-click), undefined when the event does not move the x axis.
export function zoomFromRelayout(event) {
  if (event["xaxis.autorange"]) return null;
  const x0 = event["xaxis.range[0]"] ?? event["xaxis.range"]?.[0];
  const x1 = event["xaxis.range[1]"] ?? event["xaxis.range"]?.[1];
  if (x0 === undefined || x1 === undefined) return undefined;
  const [a, b] = [Number(x0), Number(x1)].sort((p, q) => p - q);
  return { x0: a, x1: b, start: Math.max(0, Math.floor(a)), end: Math.max(0, Math.ceil(b)) };
}

// View columns for a plot `widthPx` wide: about a band column per 2 px, a heat cell per 5.
export function viewPoints(widthPx) {
  const w = Math.max(200, widthPx || 0);
  return {
    points: Math.max(100, Math.min(1000, Math.round(w / 2))),
    heat_points: Math.max(40, Math.min(400, Math.round(w / 5))),
  };
}
