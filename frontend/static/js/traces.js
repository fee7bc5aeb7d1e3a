// Every Plotly trace of a metric chart is built here, from the data the chart endpoints
// (/views/runs/{id}/charts, /views/compare) and /api/v1/series send: the first draw, a zoom's
// refetch, a live update and the smoothing slider all go through these functions, so there is
// no second copy to keep equal. Sweep figures are server-built and do not come here.
//
// Each series becomes three traces, always in this order and always present (possibly
// empty), so a refetch can swap them in place: raw (faint), smoothed (the debiased EMA of
// raw), non-finite (NaN/±Inf markers on the overlay axis y2, at the plot's bottom or top
// edge). A chart's flags add one marker trace (hover shows the message) and layout shapes.

import { debiasedEma, seriesArrays, stepToX } from "./series.js";

export const RAW_OPACITY = 0.25; // the unsmoothed curve stays visible behind the smoothed one
export const NONFINITE_COLOR = "#e03131";
export const SEVERITY_COLORS = { info: "#1c7ed6", warning: "#f59f00", critical: "#e03131" };

function severityColor(severity) {
  return SEVERITY_COLORS[severity] || SEVERITY_COLORS.warning;
}

// Plotly renders hover text as HTML: a flag's message is the detector's (or a user's) text.
const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

// Words into lines of at most `width` characters (a longer word gets a line of its own).
function wrap(text, width) {
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.length ? lines : [""];
}

function flagHover(flag) {
  const span =
    flag.start_step === flag.end_step ? `step ${flag.start_step}` : `steps ${flag.start_step}–${flag.end_step}`;
  const head = `<b>${escapeHtml(flag.kind.replaceAll("_", " "))}</b> · ${escapeHtml(flag.severity)}`;
  return [head, span, ...wrap(escapeHtml(flag.message), 64)].join("<br>");
}

// [raw, smoothed, non-finite] traces of one series (an /api/v1/series item with the chart's
// name, color and raw_hover for it), on the axis that layout.meta describes.
export function seriesTraces(meta, s, smoothing, arrays = seriesArrays(meta, s)) {
  const { name, color } = s;
  const keyMeta = { key: s.key, run: s.run_id };
  const stepHover = meta.x_mode === "step" ? "" : " · step %{customdata}";
  const common = { type: "scatter", mode: "lines", x: arrays.x, legendgroup: `${s.run_id}:${s.key}` };
  if (meta.x_mode !== "step") common.customdata = arrays.steps;
  const raw = {
    ...common,
    y: arrays.finite,
    name: `${name} (raw)`,
    showlegend: false,
    opacity: RAW_OPACITY,
    line: { color, width: 1 },
    meta: { ...keyMeta, role: "raw" },
  };
  if (s.raw_hover === false) raw.hoverinfo = "skip";
  else raw.hovertemplate = `%{y:.4g}${stepHover}<extra>${name} raw</extra>`;
  const smoothed = {
    ...common,
    y: debiasedEma(arrays.finite, smoothing),
    name,
    line: { color, width: 2 },
    hovertemplate: `%{y:.4g}${stepHover}<extra>${name}</extra>`,
    meta: { ...keyMeta, role: "smoothed", smoothing },
  };
  const bad = arrays.nonfinite;
  const nonfinite = {
    type: "scatter",
    mode: "markers",
    x: bad.x,
    y: bad.y, // +Inf at the top edge, NaN and -Inf at the bottom
    yaxis: "y2",
    text: bad.text,
    customdata: bad.customdata,
    marker: { color: NONFINITE_COLOR, size: 9, symbol: bad.symbol },
    cliponaxis: false,
    showlegend: false,
    hovertemplate: `%{text} at step %{customdata}<extra>${s.key}</extra>`,
    meta: { ...keyMeta, role: "nonfinite" },
  };
  return [raw, smoothed, nonfinite];
}

// Flags as a shaded span (or a dotted line for one step) each, below the data, and a marker
// trace at each span's centre on the top edge. Time axes place steps by interpolating the
// chart's first series that has points (`ref`: its x and step arrays); without one, none.
export function flagDrawing(meta, flags, ref) {
  const toX =
    meta.x_mode === "step" ? (step) => step : ref?.steps.length ? (step) => stepToX(ref.x, ref.steps, step) : null;
  const keep = toX ? flags : [];
  const shapes = keep.map((f) => {
    const color = severityColor(f.severity);
    const shape = {
      xref: "x",
      yref: "paper",
      x0: toX(f.start_step),
      x1: toX(f.end_step),
      y0: 0,
      y1: 1,
      name: `flag:${f.kind}:${f.id}`,
      layer: "below",
    };
    return f.end_step > f.start_step
      ? { ...shape, type: "rect", fillcolor: color, opacity: 0.14, line: { width: 0 } }
      : { ...shape, type: "line", opacity: 0.8, line: { color, dash: "dot" } };
  });
  const markers = {
    type: "scatter",
    mode: "markers",
    x: keep.map((f) => toX((f.start_step + f.end_step) / 2)),
    y: keep.map(() => 1.0),
    yaxis: "y2",
    text: keep.map(flagHover),
    marker: {
      symbol: "triangle-down",
      size: 12,
      color: keep.map((f) => severityColor(f.severity)),
      line: { color: "#ffffff", width: 1 },
    },
    cliponaxis: false,
    showlegend: false,
    hovertemplate: "%{text}<extra></extra>",
    meta: { role: "flags", flags: keep.map((f) => f.id) },
  };
  return { shapes, markers };
}

// A chart endpoint's chart ({series, flags, layout}) as Plotly data and layout.
export function chartFigure(spec, smoothing) {
  const layout = structuredClone(spec.layout);
  const meta = layout.meta;
  const data = [];
  let ref = null;
  for (const s of spec.series) {
    const arrays = seriesArrays(meta, s);
    if (!ref && arrays.steps.length) ref = arrays;
    data.push(...seriesTraces(meta, s, smoothing, arrays));
  }
  const { shapes, markers } = flagDrawing(meta, spec.flags || [], ref);
  data.push(markers);
  layout.shapes = shapes;
  return { data, layout };
}
