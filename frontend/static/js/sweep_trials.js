// The sweep page's trials table: configuration, status, progress, losses, flags and why a
// trial stopped, with a link to its run. Sort by clicking a column header.

import { isShared } from "./api.js";
import { h, replace } from "./dom.js";
import { fmtInt, fmtValue, lossKey } from "./format.js";
import { ACTIVE, TRIAL_ORDER } from "./sweep_status.js";
import { optimizerBadge, sortHeader, statusBadge } from "./ui.js";

const sort = { key: "index", dir: "asc" };

function progress(t) {
  const done = t.status === "succeeded" ? t.planned_steps : t.steps_run;
  const pct = t.planned_steps ? Math.min(100, Math.round((done / t.planned_steps) * 1000) / 10) : 0;
  const cls =
    t.status === "succeeded"
      ? "bar done"
      : ACTIVE.includes(t.status)
        ? "bar"
        : "bar stopped";
  return h(
    "div",
    { class: "progress compact" },
    h("div", { class: cls }, h("span", { style: { width: `${pct}%` } })),
    h("div", { class: "meta num" }, h("span", {}, `${fmtInt(done)} / ${fmtInt(t.planned_steps)}`)),
  );
}

function flags(t) {
  if (!t.flags.length) return h("span", { class: "faint" }, "—");
  return t.flags.map((k) => h("span", { class: "badge sev-warning flag-kind" }, k.replaceAll("_", " ")));
}

function trialCell(t, bestRuns) {
  const star = bestRuns.has(t.run_id)
    ? h("span", { class: "best-star", title: "A seed of this optimizer's best configuration" }, "★ ")
    : null;
  const name = t.run_id && !isShared // a share link opens no run pages
    ? h("a", { class: "run-name", href: `/runs/${t.run_id}` }, `Trial ${t.index}`)
    : h("span", { class: "run-name muted" }, `Trial ${t.index}`);
  const sub = t.run_id ? `run #${t.run_id}` : "not started";
  return [star, name, h("div", { class: "cell-sub" }, sub)];
}

// [id, header, sort key (trial -> comparable) or null, cell, class]
function columns(params, bestRuns) {
  return [
    ["index", "Trial", (t) => t.index, (t) => trialCell(t, bestRuns)],
    ["optimizer", "Optimizer", (t) => t.optimizer, (t) => optimizerBadge(t.optimizer)],
    ...params.columns.map((c) => [
      `param:${c.key}`,
      c.label,
      (t) => paramKey(t.params[c.key]),
      (t) => h("span", { class: "mono" }, params.values[t.index]?.[c.key] ?? "—"),
      "right",
    ]),
    ["seed", "Seed", (t) => t.seed, (t) => h("span", { class: "num" }, String(t.seed)), "right"],
    ["status", "Status", (t) => TRIAL_ORDER.indexOf(t.status), (t) => statusBadge(t.status)],
    ["progress", "Steps", (t) => t.steps_run, progress],
    [
      "best",
      "Best loss",
      (t) => lossKey(t.best_loss),
      (t) => h("span", { class: "num" }, fmtValue(t.best_loss)),
      "right",
    ],
    [
      "final",
      "Final loss",
      (t) => lossKey(t.final_loss),
      (t) => h("span", { class: "num" }, fmtValue(t.final_loss)),
      "right",
    ],
    ["flags", "Flags", (t) => -t.flags.length, flags],
    [
      "stop",
      "Stop reason",
      null,
      (t) =>
        t.stop_reason
          ? h("span", { class: "stop-reason" }, t.stop_reason)
          : h("span", { class: "faint" }, "—"),
    ],
  ];
}

function paramKey(v) {
  return typeof v === "number" ? v : JSON.stringify(v ?? "");
}

function sorted(trials, cols) {
  const col = cols.find((c) => c[0] === sort.key);
  if (!col?.[2]) return trials;
  const dir = sort.dir === "asc" ? 1 : -1;
  return [...trials].sort((a, b) => {
    const [x, y] = [col[2](a), col[2](b)];
    return (x < y ? -1 : x > y ? 1 : 0) * dir || a.index - b.index;
  });
}

export function renderTrials(view) {
  const { trials } = view.sweep;
  const bestRuns = new Set(view.best.flatMap((b) => b.runs));
  const cols = columns(view.params, bestRuns);
  const n = trials.length;
  document.getElementById("trial-count").textContent = `${n} trial${n === 1 ? "" : "s"}`;
  const head = h(
    "tr",
    {},
    cols.map((column) =>
      sortHeader(column, sort, (id) => {
        sort.dir = sort.key === id && sort.dir === "asc" ? "desc" : "asc";
        sort.key = id;
        renderTrials(view);
      }),
    ),
  );
  const rows = sorted(trials, cols).map((t) =>
    h(
      "tr",
      { dataset: { trial: t.index, status: t.status }, class: bestRuns.has(t.run_id) ? "best-trial" : "" },
      cols.map(([, , , cell, cls]) => h("td", { class: cls || "" }, cell(t))),
    ),
  );
  replace(
    document.getElementById("trials"),
    h("table", { class: "data", id: "trials-table" }, h("thead", {}, head), h("tbody", {}, rows)),
  );
}
