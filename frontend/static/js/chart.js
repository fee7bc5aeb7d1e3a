// One metric chart: draws a chart endpoint's series with plotly.js (traces.js builds every
// trace), refetches the visible range from /api/v1/series on zoom or pan (about one point per
// pixel) and live, and smooths with the toolbar's weight.

import { get } from "./api.js";
import { axisNumber, debiasedEma, stepToX, stepsInRange } from "./series.js";
import { chartFigure, seriesTraces } from "./traces.js";

// A download arrow, for the SVG button (plotly's icons are filled paths in a viewBox).
const SVG_ICON = {
  width: 1000,
  height: 1000,
  path: "M430 80h140v440h160L500 780 270 520h160zM120 840h760v110H120z",
};

function imageName(gd) {
  const title = gd.layout?.title?.text || gd.layout?.meta?.key || "chart";
  return String(title).replace(/[^\w.-]+/g, "_").slice(0, 80) || "chart";
}

// Plotly settings shared by every chart of the dashboard. The modebar keeps plotly's
// toImage button (a PNG at twice the size shown) and adds one for an SVG of the same chart.
export const PLOT_CONFIG = {
  displaylogo: false,
  showTips: false,
  responsive: true,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
  toImageButtonOptions: { format: "png", scale: 2 },
  modeBarButtonsToAdd: [
    {
      name: "toSVG",
      title: "Download plot as an SVG",
      icon: SVG_ICON,
      click: (gd) => window.Plotly.downloadImage(gd, { format: "svg", filename: imageName(gd) }),
    },
  ],
};
const REFETCH_DELAY_MS = 120;
const PLOT_MARGIN_PX = 72; // layout.margin.l + r

export function pointsFor(widthPx) {
  return Math.max(100, Math.min(4000, Math.round(widthPx)));
}

export class Chart {
  constructor(el, { smoothing = 0.6, logY = false, status = null } = {}) {
    this.el = el;
    this.smoothing = smoothing;
    this.logY = logY;
    this.statusEl = status;
    this.zoom = null; // {x0, x1, yFixed} while zoomed, else null (whole run)
    this.seq = 0;
    this.revision = 0;
    this.timer = null;
    this.bound = false;
    this.styles = new Map(); // "run:key" -> {name, color, raw_hover}: what a refetch keeps
  }

  get meta() {
    return this.el.layout?.meta || {};
  }

  get data() {
    return this.el.data || [];
  }

  plotWidth() {
    return Math.max(100, this.el.clientWidth - PLOT_MARGIN_PX);
  }

  // `spec`: one chart of /views/runs/{id}/charts or /views/compare ({series, flags, layout}).
  async draw(spec) {
    this.styles = new Map(
      spec.series.map((s) => [`${s.run_id}:${s.key}`, { name: s.name, color: s.color, raw_hover: s.raw_hover }]),
    );
    const { data, layout } = chartFigure(spec, this.smoothing);
    layout.yaxis.type = this.logY ? "log" : "linear";
    if (this.zoom) layout.xaxis = { ...layout.xaxis, range: [this.zoom.x0, this.zoom.x1], autorange: false };
    layout.datarevision = ++this.revision;
    await window.Plotly.react(this.el, data, layout, PLOT_CONFIG);
    if (!this.bound) {
      this.el.on("plotly_relayout", (event) => this.onRelayout(event));
      this.bound = true;
    }
    if (this.zoom) this.scheduleRefetch(); // fresh figure covers the whole run: refill the zoom
  }

  onRelayout(event) {
    if (event["xaxis.autorange"]) {
      this.zoom = null;
      this.scheduleRefetch();
      return;
    }
    const x0 = event["xaxis.range[0]"] ?? event["xaxis.range"]?.[0];
    const x1 = event["xaxis.range[1]"] ?? event["xaxis.range"]?.[1];
    if (x0 === undefined || x1 === undefined) return; // log toggle, y-only changes
    const yFixed = "yaxis.range[0]" in event || "yaxis.range" in event;
    this.zoom = { x0, x1, yFixed };
    this.scheduleRefetch();
  }

  scheduleRefetch() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refetch(), REFETCH_DELAY_MS);
  }

  // The step range on screen, or [undefined, undefined] for the whole run.
  visibleSteps() {
    if (!this.zoom) return [undefined, undefined];
    const x0 = axisNumber(this.zoom.x0, this.meta);
    const x1 = axisNumber(this.zoom.x1, this.meta);
    if (this.meta.x_mode === "step") return [Math.max(0, Math.floor(x0)), Math.max(0, Math.ceil(x1))];
    const raw = this.data.find((t) => t.meta?.role === "raw" && t.customdata?.length);
    return raw ? stepsInRange(raw.x, raw.customdata, x0, x1) : [undefined, undefined];
  }

  async refetch() {
    const seq = ++this.seq;
    const [start, end] = this.visibleSteps();
    const pairs = this.data.filter((t) => t.meta?.role === "raw").map((t) => t.meta);
    const runs = [...new Set(pairs.map((p) => p.run))];
    const keys = [...new Set(pairs.map((p) => p.key))];
    if (!runs.length) return;
    this.setStatus("loading…");
    try {
      const answers = await Promise.all(
        runs.map((run) =>
          get("/series", { run, key: keys, max_points: pointsFor(this.plotWidth()), start, end }),
        ),
      );
      if (seq !== this.seq) return; // a newer zoom superseded this answer
      await this.applySeries(answers.flatMap((a) => a.series));
      this.setStatus("");
    } catch (err) {
      if (seq === this.seq) this.setStatus(`could not load: ${err.message}`);
    }
  }

  // Refetched series replace their three traces; flags keep the places the full run gave them.
  async applySeries(seriesList) {
    const data = [...this.data];
    const meta = this.meta;
    for (const s of seriesList) {
      const style = this.styles.get(`${s.run_id}:${s.key}`);
      const at = data.findIndex((t) => t.meta?.run === s.run_id && t.meta?.key === s.key && t.meta?.role === "raw");
      if (!style || at < 0) continue;
      data.splice(at, 3, ...seriesTraces(meta, { ...s, ...style }, this.smoothing));
    }
    const layout = { ...this.el.layout, datarevision: ++this.revision };
    if (this.zoom && !this.zoom.yFixed) layout.yaxis = { ...layout.yaxis, autorange: true };
    if (!this.zoom) layout.xaxis = { ...layout.xaxis, autorange: true };
    await window.Plotly.react(this.el, data, layout, PLOT_CONFIG);
    this.el.dataset.refetches = String(Number(this.el.dataset.refetches || 0) + 1);
  }

  async setSmoothing(weight) {
    this.smoothing = weight;
    if (!this.el.data) return;
    const data = this.data.map((t) => {
      if (t.meta?.role !== "smoothed") return t;
      const raw = this.data.find((r) => r.meta?.role === "raw" && r.meta.run === t.meta.run && r.meta.key === t.meta.key);
      return { ...t, y: debiasedEma(raw.y, weight), meta: { ...t.meta, smoothing: weight } };
    });
    await window.Plotly.react(this.el, data, { ...this.el.layout, datarevision: ++this.revision }, PLOT_CONFIG);
  }

  async setLogY(on) {
    this.logY = on;
    if (this.el.data)
      await window.Plotly.relayout(this.el, { "yaxis.type": on ? "log" : "linear", "yaxis.autorange": true });
  }

  // Zoom to a step range (a flag's span); the relayout event triggers the refetch.
  async zoomToSteps(first, last) {
    if (!this.el.data) return;
    let [x0, x1] = [first, last];
    if (this.meta.x_mode !== "step") {
      const raw = this.data.find((t) => t.meta?.role === "raw" && t.customdata?.length);
      if (!raw) return;
      [x0, x1] = [stepToX(raw.x, raw.customdata, first), stepToX(raw.x, raw.customdata, last)];
    }
    await window.Plotly.relayout(this.el, { "xaxis.range": [x0, x1], "yaxis.autorange": true });
  }

  async resetZoom() {
    if (this.el.data)
      await window.Plotly.relayout(this.el, { "xaxis.autorange": true, "yaxis.autorange": true });
  }

  setStatus(text) {
    if (this.statusEl) this.statusEl.textContent = text;
  }
}
