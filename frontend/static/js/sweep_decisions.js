// The sweep page's early-stopping log: every ASHA decision in the order it was made (the
// trial, the rung step, the eval loss it reported, the cutoff it was held to and the outcome),
// so a reader can check each "continue" as well as each stop. Long logs show the latest rows
// first in a capped list with a "show all" button.

import { isShared } from "./api.js";
import { h, replace } from "./dom.js";
import { fmtInt, fmtValue } from "./format.js";
import { optimizerBadge } from "./ui.js";

const SHOWN = 40; // rows before "Show all"
const state = { filter: "all", all: false };
const WORDS = { inf: "+Inf", "-inf": "−Inf", nan: "NaN" };

function loss(v) {
  return typeof v === "string" ? (WORDS[v] ?? v) : fmtValue(v);
}

function filterButtons(view, counts) {
  const choices = [
    ["all", `All ${fmtInt(counts.all)}`],
    ["stop", `Stops ${fmtInt(counts.stop)}`],
    ["continue", `Continues ${fmtInt(counts.continue)}`],
  ];
  return h(
    "div",
    { class: "segmented", role: "group", "aria-label": "which decisions", id: "decision-filter" },
    choices.map(([key, label]) =>
      h(
        "button",
        {
          type: "button",
          class: state.filter === key ? "on" : "",
          dataset: { filter: key },
          onclick: () => {
            state.filter = key;
            renderDecisions(view);
          },
        },
        label,
      ),
    ),
  );
}

function trialCell(d, trial) {
  const name = trial?.run_id && !isShared
    ? h("a", { class: "run-name", href: `/runs/${trial.run_id}` }, `Trial ${d.trial}`)
    : h("span", { class: "run-name" }, `Trial ${d.trial}`);
  return [name, trial ? h("div", { class: "cell-sub" }, `seed ${trial.seed}`) : null];
}

function row(d, order, trial) {
  const stopped = d.action === "stop";
  return h(
    "tr",
    { dataset: { action: d.action, trial: d.trial }, class: stopped ? "decision-stop" : "" },
    h("td", { class: "right num faint" }, String(order + 1)),
    h("td", {}, trialCell(d, trial)),
    h("td", {}, trial ? optimizerBadge(trial.optimizer) : "—"),
    h("td", { class: "right num" }, fmtInt(d.step)),
    h("td", { class: "right num" }, d.rung === null ? "—" : String(d.rung)),
    h("td", { class: "right num" }, loss(d.value)),
    h("td", { class: "right num" }, d.cutoff === null ? "—" : loss(d.cutoff)),
    h("td", { class: "right num" }, fmtInt(d.reports)),
    h(
      "td",
      {},
      h("span", { class: `badge ${stopped ? "status-stopped_early" : "status-succeeded"}` }, stopped ? "Stop" : "Continue"),
    ),
    h("td", {}, h("span", { class: "stop-reason" }, d.reason)),
  );
}

export function renderDecisions(view) {
  const panel = document.getElementById("decisions-panel");
  if (!view.sweep.asha) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  const all = view.decisions.map((d, i) => [d, i]);
  const counts = {
    all: all.length,
    stop: all.filter(([d]) => d.action === "stop").length,
    continue: all.filter(([d]) => d.action === "continue").length,
  };
  const asha = view.sweep.spec.asha;
  document.getElementById("decision-note").textContent =
    `eta ${asha.eta}: at each rung a trial continues only if its eval loss is in the top 1/${asha.eta} of its bracket so far`;
  replace(document.getElementById("decision-tools"), filterButtons(view, counts));
  const box = document.getElementById("decisions");
  if (!all.length) {
    replace(
      box,
      h("div", { class: "card-body muted" }, `No decisions yet: the first comes when a trial reports its eval loss at step ${fmtInt(asha.min_steps)}.`),
    );
    return;
  }
  const trials = new Map(view.sweep.trials.map((t) => [t.index, t]));
  const picked = all.filter(([d]) => state.filter === "all" || d.action === state.filter).reverse();
  const shown = state.all ? picked : picked.slice(0, SHOWN);
  const table = h(
    "table",
    { class: "data", id: "decisions-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["#", "Trial", "Optimizer", "Step", "Rung", "Eval loss", "Cutoff", "Results at rung", "Decision", "Why"].map(
          (label, i) => h("th", { class: [0, 3, 4, 5, 6, 7].includes(i) ? "right" : "" }, label),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      shown.map(([d, i]) => row(d, i, trials.get(d.trial))),
    ),
  );
  const more =
    shown.length < picked.length
      ? h(
          "div",
          { class: "card-foot" },
          h(
            "button",
            {
              class: "btn btn-sm",
              type: "button",
              id: "decisions-more",
              onclick: () => {
                state.all = true;
                renderDecisions(view);
              },
            },
            `Show all ${fmtInt(picked.length)} (latest ${SHOWN} shown)`,
          ),
        )
      : null;
  replace(box, h("div", { class: "table-wrap" }, table), more);
}
