// The run page's Layers card: per-layer statistics (GET /runs/{id}/layers for what the run
// logged, /runs/{id}/layers/{stat} for the view) as nested percentile bands across layers
// over steps and a layers x steps heatmap. Zooming either chart refetches that step range
// at full detail for both; a double-click returns to the whole run.

import { get } from "./api.js";
import { PLOT_CONFIG } from "./chart.js";
import { h, replace } from "./dom.js";
import { fmtInt } from "./format.js";
import {
  DEFAULT_STAT,
  statSelector,
  bandTraces,
  baseLayout,
  heatmapTrace,
  statAxisTitle,
  statLabel,
  viewPoints,
  zoomFromRelayout,
} from "./layer_charts.js";
import { plotlyReady } from "./plotly_loader.js";

const REFETCH_DELAY_MS = 120;
const FOLLOW_MS = 5000; // a live run's view is refreshed at most this often
const EMPTY =
  "No per-layer statistics. lionlab.watch(model) logs each layer's gradient norm, " +
  "update ratio and parameter norm.";
const MONO = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace';
const NAME_PX = 6.8; // width of a layer name's character at 11 px, for the shared left margin
const MAX_MARGIN = 300; // px: the widest left margin the charts give layer names
const MAX_NAME_CHARS = Math.floor((MAX_MARGIN - 16) / NAME_PX);

// A layer name that fits the margin: a longer one keeps its end ("…3.mlp.fc.weight").
export function elideStart(name) {
  return name.length <= MAX_NAME_CHARS ? name : `…${name.slice(name.length - MAX_NAME_CHARS + 1)}`;
}

export class RunLayers {
  constructor(card, runId) {
    this.card = card;
    this.runId = runId;
    this.body = card.querySelector("#layers");
    this.meta = card.querySelector("#layers-meta");
    this.index = null; // {names, stats}
    this.stat = DEFAULT_STAT;
    this.zoom = null; // {x0, x1, start, end} while zoomed
    this.resets = 0; // each reset of the zoom: the heatmap forgets its layer (y) zoom
    this.seq = 0;
    this.controller = null;
    this.timer = null;
    this.loadedAt = 0;
    this.bands = null; // plot divs, once built
    this.heat = null;
    this.statusEl = null;
  }

  async load() {
    this.setState("loading");
    let index;
    try {
      [index] = await Promise.all([get(`/runs/${this.runId}/layers`), plotlyReady()]);
    } catch (err) {
      this.fail(`Could not load the per-layer statistics: ${err.message}`);
      return;
    }
    this.index = index;
    this.loadedAt = Date.now();
    if (!index.stats.length) {
      this.meta.textContent = "";
      replace(this.body, h("div", { class: "card-body muted", id: "layers-empty" }, EMPTY));
      this.bands = this.heat = null;
      this.setState("empty");
      return;
    }
    if (!index.stats.includes(this.stat)) this.stat = index.stats[0];
    this.build();
    await this.fetchView();
  }

  // A live run: new steps arrived; redraw the whole-run view now and then (not while zoomed).
  follow() {
    if (this.zoom || this.card.dataset.state === "loading") return;
    if (Date.now() - this.loadedAt < FOLLOW_MS) return;
    this.loadedAt = Date.now();
    if (!this.index?.stats.length) this.load();
    else this.fetchView();
  }

  setState(state) {
    this.card.dataset.state = state;
  }

  fail(message) {
    this.setState("error");
    replace(
      this.body,
      h(
        "div",
        { class: "card-body layers-error", id: "layers-error" },
        h("span", {}, message),
        h("button", { class: "btn btn-sm", type: "button", onclick: () => this.load() }, "Try again"),
      ),
    );
    this.bands = this.heat = null;
  }

  build() {
    const selector = statSelector({
      id: "layers-stat",
      current: this.stat,
      available: this.index.stats,
      missing: "Not logged for this run",
      pick: (stat) => {
        this.stat = stat;
        this.fetchView(); // the zoomed step range, if any, stays
      },
    });
    this.statusEl = h("span", { class: "status", id: "layers-status", "aria-live": "polite" });
    const reset = h(
      "button",
      { class: "btn btn-sm", type: "button", id: "layers-reset", onclick: () => this.resetZoom() },
      "Reset zoom",
    );
    this.bands = h("div", { class: "chart layers-bands", id: "layers-bands" });
    this.heat = h("div", { class: "chart layers-heat", id: "layers-heat" });
    this.bound = false;
    replace(
      this.body,
      h(
        "div",
        { class: "toolbar layers-toolbar" },
        selector,
        this.statusEl,
        h("span", { style: { flex: "1" } }),
        reset,
      ),
      h("div", { class: "layers-plot" }, this.bands),
      h("div", { class: "layers-plot" }, this.heat),
      h(
        "p",
        { class: "layers-help muted" },
        "Bands: the spread of the statistic across layers at each step (log scale). " +
          "Heatmap: each layer's largest value in each column. Downsampled views keep every extreme; " +
          "drag to zoom into steps, double-click for the whole run.",
      ),
    );
    const n = this.index.names.length;
    this.meta.textContent = `${fmtInt(n)} layer${n === 1 ? "" : "s"}`;
  }

  plotWidth() {
    return (this.bands?.clientWidth || this.body.clientWidth) - this.margins().l - this.margins().r;
  }

  // Both charts share their left and right margins so their step axes line up.
  margins() {
    const longest = Math.max(8, ...(this.index?.names || []).map((n) => n.length));
    return { l: Math.min(MAX_MARGIN, Math.max(64, Math.round(longest * NAME_PX) + 16)), r: 96 };
  }

  async fetchView() {
    const seq = ++this.seq;
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    const stat = this.stat;
    const query = { ...viewPoints(this.plotWidth()), start: this.zoom?.start, end: this.zoom?.end };
    this.setState("loading");
    this.setStatus("loading…");
    this.card.dataset.stat = stat;
    let view;
    try {
      view = await get(`/runs/${this.runId}/layers/${stat}`, query, { signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError" || seq !== this.seq) return;
      const message = `Could not load the ${statAxisTitle(stat)} view: ${err.message}`;
      if (this.bands?.data) {
        this.setState("error");
        this.setStatus(message, true); // the charts drawn before stay
      } else this.fail(message);
      return;
    }
    if (seq !== this.seq) return; // a newer zoom or statistic superseded this answer
    this.setStatus("");
    await this.draw(view);
    this.setState("ready");
  }

  async draw(view) {
    const label = statAxisTitle(view.stat);
    const margin = this.margins();
    const empty = !view.band_first_step.length;
    const x = this.zoom ? { range: [this.zoom.x0, this.zoom.x1], autorange: false } : { autorange: true };
    const columns = view.band_first_step.length;
    const detail =
      view.level === 0
        ? `every logged step (${fmtInt(view.rows)})`
        : `${fmtInt(view.rows)} logged steps in ${fmtInt(columns)} columns, extremes kept`;
    const bandLayout = baseLayout(`${statLabel(view.stat)} across layers`, label, {
      legend: true,
      height: 320,
      margin,
    });
    bandLayout.xaxis = { ...bandLayout.xaxis, ...x };
    bandLayout.yaxis = { ...bandLayout.yaxis, automargin: false };
    bandLayout.meta = { stat: view.stat, level: view.level, rows: view.rows };
    bandLayout.annotations = [this.note(empty ? "no steps in this range" : detail)];
    const heatLayout = baseLayout(`${statLabel(view.stat)} per layer`, null, {
      height: Math.max(260, Math.min(720, 96 + 18 * view.names.length)),
      margin,
    });
    heatLayout.hovermode = "closest";
    heatLayout.xaxis = { ...heatLayout.xaxis, ...x, showgrid: false };
    heatLayout.yaxis = {
      ...heatLayout.yaxis,
      type: "category",
      autorange: "reversed",
      automargin: false,
      showgrid: false,
      tickfont: { size: 11, family: MONO },
      title: { text: "" },
      // names longer than the margin lose their start (the end names the tensor); the
      // hover keeps the whole name
      tickvals: view.names,
      ticktext: view.names.map(elideStart),
    };
    heatLayout.uirevision = `${view.names.length}:${this.resets}`; // a layer zoom survives refetches
    heatLayout.meta = { stat: view.stat, level: view.level };
    await window.Plotly.react(this.bands, bandTraces(view, label), bandLayout, PLOT_CONFIG);
    await window.Plotly.react(this.heat, [heatmapTrace(view, label)], heatLayout, PLOT_CONFIG);
    if (!this.bound) {
      for (const gd of [this.bands, this.heat]) gd.on("plotly_relayout", (event) => this.onRelayout(event));
      this.bound = true;
    }
    for (const gd of [this.bands, this.heat]) {
      gd.dataset.fetches = String(Number(gd.dataset.fetches || 0) + 1);
      gd.dataset.stat = view.stat;
    }
    this.card.dataset.drawn = "true";
  }

  note(text) {
    return {
      text,
      xref: "paper",
      yref: "paper",
      x: 1,
      y: 1,
      xanchor: "right",
      yanchor: "bottom",
      yshift: 4,
      showarrow: false,
      font: { size: 11, color: "#6c757d" },
    };
  }

  onRelayout(event) {
    const zoom = zoomFromRelayout(event);
    if (zoom === undefined) return; // a y-only change (layers zoom), legend clicks
    this.zoom = zoom;
    if (!zoom) this.resets += 1; // a double-click: the heatmap's layer zoom goes too
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fetchView(), REFETCH_DELAY_MS);
  }

  resetZoom() {
    if (!this.bands?.data) return;
    this.zoom = null;
    this.resets += 1;
    clearTimeout(this.timer);
    this.fetchView();
  }

  setStatus(text, error = false) {
    if (!this.statusEl) return;
    this.statusEl.textContent = text;
    this.statusEl.classList.toggle("error", error);
  }
}
