// The run page: header, tiles, flags, artifacts, configuration, metric charts and per-layer
// statistics; a queued or running run refreshes every second without a reload (its artifacts
// when its status changes, its layer view every few seconds as steps arrive).

import { get } from "../api.js";
import { ChartGrid, maxPointsFor } from "../chart_grid.js";
import { chartState, renderControls, tzOffsetMinutes } from "../controls.js";
import { h } from "../dom.js";
import { plotlyReady } from "../plotly_loader.js";
import { RunArtifacts } from "../run_artifacts.js";
import { RunLayers } from "../run_layers.js";
import { RunNote } from "../run_note.js";
import { renderConfig, renderFlags, renderHeader, renderTiles } from "../run_panels.js";
import { ACTIVE_STATUSES, emptyState, errorState } from "../ui.js";

const runId = document.body.dataset.runId;
const LIVE_MS = 1000;
const state = chartState();
const grid = new ChartGrid(document.getElementById("charts"), state);
const artifacts = new RunArtifacts(document.getElementById("artifacts-panel"), runId);
const layers = new RunLayers(document.getElementById("layers-panel"), runId);
let last = null; // the last view shown: what changed since decides what to refetch

function chartQuery() {
  return {
    max_points: maxPointsFor(grid.container),
    x: state.x,
    tz: tzOffsetMinutes(),
  };
}

function noMetrics(run) {
  if (run.job) {
    const text =
      run.status === "queued"
        ? "The job is waiting for a worker; charts appear with its first metrics."
        : "The job has not logged metrics.";
    return emptyState("No metrics yet", text);
  }
  return emptyState(
    "No metrics yet",
    "Nothing has been logged for this run yet. From your script:",
    h("pre", {}, `run.log({"train_loss": loss}, step=step)`),
  );
}

async function loadCharts() {
  const [body] = await Promise.all([get(`/views/runs/${runId}/charts`, chartQuery()), plotlyReady()]);
  await grid.render(body.charts, noMetrics(last?.row.run || {}));
}

function showView(view) {
  renderHeader(view, refresh);
  renderTiles(view.row);
  renderFlags(view.flags, (f) => grid.zoomToSteps(Math.max(0, f.start_step - 10), f.end_step + 10));
  renderConfig(view);
}

function metricsSignature(view) {
  return view.metrics.map((m) => `${m.key}:${m.count}:${m.last_step}`).join("|");
}

function keysSignature(view) {
  return view.metrics.map((m) => m.key).join("|");
}

function flagsSignature(view) {
  return view.flags.map((f) => `${f.id}:${f.end_step}`).join("|");
}

async function refresh() {
  const view = await get(`/views/runs/${runId}`);
  const before = last;
  last = view;
  showView(view);
  if (!before) return;
  if (view.row.run.status !== before.row.run.status) artifacts.load(); // a run logs files as it ends
  if (keysSignature(view) !== keysSignature(before) || flagsSignature(view) !== flagsSignature(before)) {
    await loadCharts(); // new charts or new flags: redraw them from fresh data (zoom is kept)
  } else if (metricsSignature(view) !== metricsSignature(before)) {
    await grid.refreshUnzoomed();
  }
  if (metricsSignature(view) !== metricsSignature(before)) layers.follow(); // new steps logged
}

function live(status) {
  return ACTIVE_STATUSES.includes(status);
}

async function poll() {
  try {
    if (!document.hidden) await refresh(); // a background tab waits until it is shown
  } catch (err) {
    console.warn("refresh failed:", err.message);
  }
  if (live(last?.row.run.status)) setTimeout(poll, LIVE_MS);
}

async function start() {
  new RunNote(document.getElementById("note-panel"), runId).load();
  artifacts.load();
  layers.load();
  renderControls(document.getElementById("chart-controls"), state, {
    x: () => {
      grid.forgetZoom();
      return loadCharts();
    },
    smoothing: (w) => grid.setSmoothing(w),
    logY: (on) => grid.setLogY(on),
    reset: () => grid.resetZoom(),
  });
  const charts = get(`/views/runs/${runId}/charts`, chartQuery());
  try {
    last = await get(`/views/runs/${runId}`);
    showView(last);
    const [body] = await Promise.all([charts, plotlyReady()]);
    await grid.render(body.charts, noMetrics(last.row.run));
  } catch (err) {
    grid.container.replaceChildren(
      h(
        "div",
        { class: "card" },
        errorState(err.message, () => location.reload()),
      ),
    );
    return;
  }
  if (live(last.row.run.status)) setTimeout(poll, LIVE_MS);
}

start();
