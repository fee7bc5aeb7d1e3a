// Compare: the compared runs' per-layer statistics on one chart, each run's median across
// layers and its 16–84% band in the run's colour, for one statistic at a time. Runs that did
// not log the statistic are named and left out; the card stays hidden when none logged any.
// Zooming refetches that step range for every run; a double-click returns to whole runs.

import { get } from "./api.js";
import { PLOT_CONFIG } from "./chart.js";
import { h, replace } from "./dom.js";
import {
  DEFAULT_STAT,
  LAYER_STATS,
  baseLayout,
  runBandTraces,
  statAxisTitle,
  statSelector,
  statLabel,
  viewPoints,
  zoomFromRelayout,
} from "./layer_charts.js";

const REFETCH_DELAY_MS = 120;

export class CompareLayers {
  // `runs`: the compare view's runs ({row, label, color}), in legend order.
  constructor(card, runs) {
    this.card = card;
    this.runs = runs;
    this.logged = new Map(); // run id -> the statistics it logged
    this.stat = DEFAULT_STAT;
    this.zoom = null;
    this.seq = 0;
    this.controller = null;
    this.timer = null;
    this.plot = null;
    this.bound = false;
  }

  async load() {
    const answers = await Promise.all(
      this.runs.map(({ row }) =>
        get(`/runs/${row.run.id}/layers`).then(
          (index) => index.stats,
          () => [], // a run whose statistics cannot be read is left out, as one without
        ),
      ),
    );
    this.runs.forEach(({ row }, i) => this.logged.set(row.run.id, answers[i]));
    const any = LAYER_STATS.map(([s]) => s).filter((s) => answers.some((a) => a.includes(s)));
    if (!any.length) {
      this.card.hidden = true;
      this.card.dataset.state = "empty";
      return;
    }
    if (!any.includes(this.stat)) this.stat = any[0];
    this.build(any);
    this.card.hidden = false;
    await this.fetch();
  }

  build(available) {
    const selector = statSelector({
      id: "compare-layers-stat",
      current: this.stat,
      available,
      missing: "None of these runs logged it",
      pick: (stat) => {
        this.stat = stat;
        this.fetch();
      },
    });
    this.status = h("span", { class: "status", id: "compare-layers-status", "aria-live": "polite" });
    this.skipped = h("p", { class: "layers-help muted", id: "compare-layers-skipped" });
    this.plot = h("div", { class: "chart", id: "compare-layers-chart" });
    this.bound = false;
    replace(
      this.card,
      h(
        "div",
        { class: "card-head" },
        h("h2", {}, "Layer distributions"),
        h("span", { class: "muted" }, "each run's median across layers and its 16–84% band"),
      ),
      h("div", { class: "toolbar layers-toolbar" }, selector, this.status),
      h("div", { class: "layers-plot" }, this.plot),
      this.skipped,
    );
  }

  async fetch() {
    const seq = ++this.seq;
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    const stat = this.stat;
    const shown = this.runs.filter(({ row }) => this.logged.get(row.run.id).includes(stat));
    const left = this.runs.filter(({ row }) => !this.logged.get(row.run.id).includes(stat));
    this.skipped.textContent = left.length
      ? `Not logged by ${left.map(({ row }) => row.run.name).join(", ")}: left out.`
      : "";
    const width = (this.plot.clientWidth || this.card.clientWidth) - 90;
    const query = {
      points: viewPoints(width).points,
      heat_points: 2, // the heatmap is not drawn here
      start: this.zoom?.start,
      end: this.zoom?.end,
    };
    this.card.dataset.state = "loading";
    this.card.dataset.stat = stat;
    this.setStatus("loading…");
    let views;
    try {
      views = await Promise.all(
        shown.map(({ row }) =>
          get(`/runs/${row.run.id}/layers/${stat}`, query, { signal: controller.signal }),
        ),
      );
    } catch (err) {
      if (err.name === "AbortError" || seq !== this.seq) return;
      this.card.dataset.state = "error";
      this.setStatus(`Could not load ${statLabel(stat).toLowerCase()}: ${err.message}`, true);
      return;
    }
    if (seq !== this.seq) return;
    const traces = shown.flatMap(({ row, label, color }, i) =>
      runBandTraces(views[i], { name: label, color, run: row.run.id }),
    );
    const layout = baseLayout(`${statLabel(stat)} across layers`, statAxisTitle(stat), {
      legend: true,
      height: 340,
    });
    if (this.zoom) layout.xaxis = { ...layout.xaxis, range: [this.zoom.x0, this.zoom.x1], autorange: false };
    layout.meta = { stat };
    await window.Plotly.react(this.plot, traces, layout, PLOT_CONFIG);
    if (!this.bound) {
      this.plot.on("plotly_relayout", (event) => this.onRelayout(event));
      this.bound = true;
    }
    this.plot.dataset.fetches = String(Number(this.plot.dataset.fetches || 0) + 1);
    this.setStatus("");
    this.card.dataset.state = "ready";
  }

  onRelayout(event) {
    const zoom = zoomFromRelayout(event);
    if (zoom === undefined) return;
    this.zoom = zoom;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fetch(), REFETCH_DELAY_MS);
  }

  setStatus(text, error = false) {
    this.status.textContent = text;
    this.status.classList.toggle("error", error);
  }
}
