// A grid of metric charts: one card per chart the server sent data for, drawn one after
// another so the first chart shows as early as possible.

import { Chart, pointsFor } from "./chart.js";
import { h, replace } from "./dom.js";

const CARD_PADDING_PX = 16;
const PLOT_MARGIN_PX = 72;

// Plot-area width of one grid cell, before any chart exists (for max_points).
export function cellPlotWidth(container) {
  const tracks = getComputedStyle(container).gridTemplateColumns.split(" ");
  const cell = Number.parseFloat(tracks[0]) || container.clientWidth;
  return cell - CARD_PADDING_PX - PLOT_MARGIN_PX;
}

export function maxPointsFor(container) {
  return pointsFor(cellPlotWidth(container));
}

export class ChartGrid {
  constructor(container, state) {
    this.container = container;
    this.state = state;
    this.charts = new Map(); // chart id -> Chart
    this.layout = null; // the chart ids the grid was built for
  }

  // Draw `specs` ([{id, title, keys, series, flags, layout}]); charts already shown keep their zoom.
  async render(specs, empty) {
    const ids = specs.map((s) => s.id).join("|");
    if (ids !== this.layout) this.build(specs, empty);
    this.layout = ids;
    let first = true;
    for (const spec of specs) {
      await this.charts.get(spec.id).draw(spec);
      if (first) {
        first = false;
        if (!performance.getEntriesByName("lionlab:chart-drawn").length) {
          performance.mark("lionlab:chart-drawn");
        }
        this.container.dataset.drawn = "true";
      }
      await new Promise(requestAnimationFrame); // let the page paint between charts
    }
  }

  build(specs, empty) {
    this.charts.clear();
    if (!specs.length) {
      this.container.classList.add("one");
      replace(this.container, h("div", { class: "card" }, empty));
      return;
    }
    this.container.classList.remove("one");
    const cards = specs.map((spec) => {
      const plot = h("div", { class: "chart", dataset: { chart: spec.id, keys: spec.keys.join(",") } });
      const status = h("span", { class: "status" });
      this.charts.set(spec.id, new Chart(plot, { ...this.optionsFromState(), status }));
      return h("div", { class: "card chart-card" }, plot, status);
    });
    replace(this.container, ...cards);
  }

  optionsFromState() {
    return { smoothing: this.state.smoothing, logY: this.state.logY };
  }

  each(fn) {
    return Promise.all([...this.charts.values()].map(fn));
  }

  setSmoothing(weight) {
    return this.each((c) => c.setSmoothing(weight));
  }

  setLogY(on) {
    return this.each((c) => c.setLogY(on));
  }

  // The x axis changes units: zoom ranges of the old axis mean nothing on the new one.
  forgetZoom() {
    for (const chart of this.charts.values()) chart.zoom = null;
  }

  resetZoom() {
    return this.each((c) => c.resetZoom());
  }

  zoomToSteps(first, last) {
    return this.each((c) => c.zoomToSteps(first, last));
  }

  // New points arrived: refetch every chart that shows the whole run.
  refreshUnzoomed() {
    return this.each((c) => (c.zoom ? null : c.refetch()));
  }
}
