// Sweep and trial states shared by the sweeps list and the sweep page: badges and progress.

import { h } from "./dom.js";
import { fmtInt } from "./format.js";
import { ACTIVE_STATUSES, STATUSES } from "./ui.js";

// A trial is still to come while it is pending (no run yet), queued or running.
export const ACTIVE = ["pending", ...ACTIVE_STATUSES];
// The new-sweep form leaves POST /sweeps' warnings here for the sweep page to show once.
export const WARNINGS_KEY = "lionlab:sweep-warnings";
export const OPTIMIZER_NAMES = { lion: "Lion", adamw: "AdamW", adam: "Adam", sgd: "SGD" };

const SWEEP_LABELS = { running: "Running", finished: "Finished", cancelled: "Cancelled" };
// Trial statuses in display order (counts, table sorting): the runs' order, with trials not
// yet started after the queued ones.
export const TRIAL_ORDER = STATUSES.flatMap((s) => (s === "queued" ? [s, "pending"] : [s]));

export function optimizerName(name) {
  return OPTIMIZER_NAMES[name] || name;
}

export function sweepBadge(status) {
  return h(
    "span",
    { class: `badge status-${status}`, dataset: { status } },
    h("span", { class: "dot" }),
    SWEEP_LABELS[status] || status,
  );
}

// Trials per status as a sentence: "3 running · 12 succeeded · 2 stopped early".
export function countsText(counts) {
  const known = TRIAL_ORDER.filter((s) => counts[s]);
  const other = Object.keys(counts).filter((s) => !TRIAL_ORDER.includes(s) && counts[s]);
  return [...known, ...other].map((s) => `${counts[s]} ${s.replaceAll("_", " ")}`).join(" · ");
}

export function endedTrials(sweep) {
  return Object.entries(sweep.counts)
    .filter(([status]) => !ACTIVE.includes(status))
    .reduce((n, [, c]) => n + c, 0);
}

// A bar of trials ended out of the total, "12 / 18 trials" under it.
export function sweepProgress(sweep) {
  const ended = endedTrials(sweep);
  const total = sweep.trials_total || 0;
  const pct = total ? Math.round((ended / total) * 1000) / 10 : 0;
  const barClass =
    sweep.status === "finished" ? "bar done" : sweep.status === "running" ? "bar" : "bar stopped";
  const running = sweep.counts.running || 0;
  return h(
    "div",
    { class: "progress", title: countsText(sweep.counts) },
    h("div", { class: barClass }, h("span", { style: { width: `${pct}%` } })),
    h(
      "div",
      { class: "meta num" },
      h("span", {}, `${fmtInt(ended)} / ${fmtInt(total)} trials`),
      h("span", {}, running ? `${running} running` : `${pct}%`),
    ),
  );
}
