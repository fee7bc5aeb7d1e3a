// The sweep page (and its read-only report, data-report="true"): verdict, summary tiles, the
// three server-built charts, best configurations, compute, the trials table and ASHA's log. Refreshes
// every few seconds while the sweep runs; zoom and legend choices survive a refresh.

import { get, post } from "../api.js";
import { PLOT_CONFIG } from "../chart.js";
import { h, replace } from "../dom.js";
import { fmtAgo, fmtInt } from "../format.js";
import { plotlyReady } from "../plotly_loader.js";
import { canEdit } from "../roles.js";
import { decodeFigure } from "../series.js";
import { renderDecisions } from "../sweep_decisions.js";
import { renderBest, renderCompute, renderTiles, renderVerdict } from "../sweep_panels.js";
import { WARNINGS_KEY, sweepBadge } from "../sweep_status.js";
import { renderTrials } from "../sweep_trials.js";
import { confirmButton, emptyState, errorState, toast } from "../ui.js";

const sweepId = document.body.dataset.sweepId;
const report = document.body.dataset.report === "true";
const POLL_MS = 4000;
const EMPTY_TEXT = {
  sensitivity: ["Loss against learning rate", "Appears when the first configurations finish."],
  parallel: ["Trials across the swept parameters", "Appears with the first evaluations."],
  time_to_target: [
    "Time to target",
    "Appears once the baseline's best configuration has finished: the highest final eval loss among its seeds is the target.",
  ],
};
let timer = null;

function reportUrl() {
  return `${location.origin}/sweeps/${sweepId}/report`;
}

async function shareReport() {
  const url = reportUrl();
  try {
    await navigator.clipboard.writeText(url);
    toast("Report link copied: anyone whose token sees this project can open it.");
  } catch {
    toast(`Copy this link: ${url}`, { ms: 9000 });
  }
}

async function cancelSweep() {
  try {
    await post(`/sweeps/${sweepId}/cancel`);
    toast("Sweep cancelled: no more trials start, running ones stop at their next heartbeat.");
  } catch (err) {
    toast(`Could not cancel: ${err.message}`, { kind: "error" });
  }
  // after the confirm button has reset itself, so the header may replace it
  setTimeout(() => refresh().catch((err) => toast(err.message, { kind: "error" })));
}

function renderHeader(view) {
  const { sweep } = view;
  replace(document.getElementById("sweep-badges"), sweepBadge(sweep.status));
  const configs = new Set(sweep.trials.map((t) => t.group)).size;
  const seeds = new Set(sweep.trials.map((t) => t.seed)).size;
  const parts = [
    `Sweep ${sweep.id}`,
    `created ${fmtAgo(sweep.created_at)}${sweep.created_by ? ` by ${sweep.created_by}` : ""}`,
    `${fmtInt(sweep.trials_total)} trials (${configs} configurations × ${seeds} seeds)`,
    sweep.asha ? "ASHA early stopping" : "no early stopping",
    `${sweep.max_parallel} at a time`,
  ];
  const sub = document.getElementById("sweep-sub");
  replace(sub, sweep.description ? h("div", {}, sweep.description) : null, h("div", {}, parts.join(" · ")));
  // The report has no controls; a refresh never replaces a cancel waiting for its confirm.
  const box = document.getElementById("sweep-actions");
  if (report || box.querySelector(".confirming")) return;
  const share = h(
    "button",
    { class: "btn", type: "button", id: "share-report", onclick: shareReport },
    "Share report",
  );
  const cancel =
    sweep.status === "running" && canEdit
      ? confirmButton("Cancel sweep", "Confirm cancel", cancelSweep, "btn btn-danger")
      : null;
  replace(box, cancel, share);
}

function renderWarnings() {
  const key = `${WARNINGS_KEY}:${sweepId}`;
  const warnings = JSON.parse(sessionStorage.getItem(key) || "[]");
  sessionStorage.removeItem(key);
  if (!warnings.length || report) return;
  replace(
    document.getElementById("sweep-alert"),
    h(
      "div",
      { class: "callout warning", style: { marginBottom: "16px" } },
      h("b", {}, "Started, with warnings. "),
      warnings.join(" "),
    ),
  );
}

async function drawChart(name, figure) {
  const el = document.querySelector(`.sweep-chart[data-chart="${name}"]`);
  if (figure.layout.meta?.empty && EMPTY_TEXT[name]) {
    if (el.data) window.Plotly.purge(el);
    el.classList.add("is-empty");
    replace(el, emptyState(...EMPTY_TEXT[name]));
    return;
  }
  if (!el.data) replace(el);
  el.classList.remove("is-empty");
  decodeFigure(figure);
  figure.layout.autosize = true;
  delete figure.layout.width;
  if (name === "sensitivity") {
    // as tall as the panels beside it, so the row ends level
    const side = document.querySelector(".sweep-top > .stack");
    const wide = el.closest(".sweep-top").clientWidth > side.clientWidth * 2;
    if (wide) figure.layout.height = Math.max(figure.layout.height, side.offsetHeight - 10);
  }
  el.style.height = `${figure.layout.height || 380}px`;
  await window.Plotly.react(el, figure.data, figure.layout, PLOT_CONFIG);
  el.dataset.drawn = "true";
}

async function drawCharts(figures) {
  await plotlyReady();
  for (const [name, figure] of Object.entries(figures)) await drawChart(name, figure);
  document.body.dataset.chartsDrawn = "true";
}

async function show(view) {
  renderHeader(view);
  renderVerdict(view);
  renderTiles(view);
  renderBest(view);
  renderCompute(view);
  renderTrials(view);
  renderDecisions(view);
  await drawCharts(view.figures);
  document.body.dataset.status = view.sweep.status;
}

async function refresh() {
  clearTimeout(timer);
  const view = await get(`/views/sweeps/${sweepId}`);
  await show(view);
  if (view.sweep.status === "running") timer = setTimeout(poll, POLL_MS);
  return view;
}

async function poll() {
  try {
    if (document.hidden) {
      timer = setTimeout(poll, POLL_MS); // a background tab waits until it is shown
      return;
    }
    await refresh();
  } catch (err) {
    console.warn("refresh failed:", err.message);
    timer = setTimeout(poll, POLL_MS * 2);
  }
}

async function start() {
  renderWarnings();
  try {
    await refresh();
  } catch (err) {
    replace(
      document.getElementById("verdict"),
      errorState(err.message, () => location.reload()),
    );
  }
}

start();
