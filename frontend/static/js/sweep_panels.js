// The sweep page's panels: verdict, summary tiles, best configuration per optimizer, compute.
// Each takes the body of GET /api/v1/views/sweeps/{id}.

import { isShared } from "./api.js";
import { h, replace } from "./dom.js";
import { fmtInt, fmtValue } from "./format.js";
import { endedTrials, optimizerName, sweepProgress } from "./sweep_status.js";
import { optimizerBadge } from "./ui.js";

const VERDICT_HEADLINES = {
  challenger_faster: (c) => `${c} reached the target faster`,
  baseline_faster: (c, b) => `${b} reached the target faster`,
  no_significant_difference: () => "No significant difference",
  target_not_reached: (c) => `${c} never reached the target`,
  insufficient_data: () => "Not enough data for a verdict yet",
};

function names(view) {
  return [optimizerName(view.challenger), optimizerName(view.baseline)];
}

function verdictCard(headline, badge, lead, more = []) {
  return h(
    "div",
    { class: "card-body" },
    h(
      "div",
      { class: "verdict-head" },
      h("span", { class: "verdict-kicker" }, "Verdict"),
      h("h2", { id: "verdict-headline" }, headline),
      badge,
    ),
    h("p", { class: "verdict-lead", id: "verdict-text" }, lead),
    more.length
      ? h(
          "ul",
          { class: "verdict-more" },
          more.map((s) => h("li", {}, s)),
        )
      : null,
  );
}

export function renderVerdict(view) {
  const box = document.getElementById("verdict");
  const verdict = view.verdict;
  const [chal, base] = names(view);
  if (!verdict) {
    replace(box, h("div", { class: "card-body muted" }, "The verdict appears once trials finish."));
    return;
  }
  if (!endedTrials(view.sweep)) {
    box.dataset.status = "waiting";
    const lead = `No trial has ended yet. The verdict compares ${chal}'s best configuration with ${base}'s once every seed of each has run to the end.`;
    replace(box, verdictCard("Waiting for the first trials", null, lead));
    return;
  }
  const [first, ...rest] = verdict.sentences;
  const preliminary = view.pending_trials > 0;
  box.dataset.status = verdict.status;
  const headline = VERDICT_HEADLINES[verdict.status]?.(chal, base) || verdict.status;
  const badge = preliminary ? h("span", { class: "badge status-queued" }, "Preliminary") : null;
  replace(box, verdictCard(headline, badge, first, rest));
}

function tile(label, value, sub, id) {
  return h(
    "div",
    { class: "card tile", id },
    h("div", { class: "k" }, label),
    h("div", { class: "v" }, value),
    h("div", { class: "s" }, sub || "\u00a0"),
  );
}

function ratioTile(label, sp, id, missing) {
  if (!sp || sp.ratio === null) return tile(label, "—", missing, id);
  const ci =
    sp.low !== null && sp.high !== null
      ? `${Math.round(sp.confidence * 100)}% CI ${fmtValue(sp.low, 3)}–${fmtValue(sp.high, 3)}`
      : "no interval (too few seeds)";
  const seeds = `${sp.challenger_times.length} seeds`;
  const value = h("span", { class: sp.significant ? "sig" : "" }, `${fmtValue(sp.ratio, 3)}×`);
  return tile(label, value, `${ci} · ${seeds}`, id);
}

export function renderTiles(view) {
  const { sweep, target, compute } = view;
  const [chal, base] = names(view);
  const saved = compute.planned_steps ? `${Math.round(compute.fraction * 1000) / 10}%` : "—";
  const savedSub = `ASHA ${pct(compute.fraction_by_early_stopping)} · divergence ${pct(
    compute.planned_steps ? compute.saved_by_divergence / compute.planned_steps : 0,
  )}`;
  const targetSub =
    target.value === null
      ? `set when ${base}'s best configuration finishes`
      : target.source === "given"
        ? "given in the spec"
        : `worst seed of ${base}'s best configuration`;
  replace(
    document.getElementById("sweep-tiles"),
    tile(
      "Trials",
      sweepProgress(sweep),
      `${fmtInt(endedTrials(sweep))} ended of ${fmtInt(sweep.trials_total)}`,
      "tile-trials",
    ),
    ratioTile(
      `${chal}/${base} speedup (steps)`,
      view.speedup.steps,
      "tile-speedup",
      "needs both best configurations",
    ),
    ratioTile(
      `${chal}/${base} speedup (wall clock)`,
      view.speedup.seconds,
      "tile-speedup-wall",
      "needs wall times of both",
    ),
    tile("Target eval loss", fmtValue(target.value), targetSub, "tile-target"),
    tile("Compute saved", saved, compute.planned_steps ? savedSub : "", "tile-compute"),
  );
}

function pct(fraction) {
  return `${Math.round((fraction || 0) * 1000) / 10}%`;
}

function meanSd(mean, sd) {
  if (mean === null || mean === undefined) return "—";
  return sd === null || sd === undefined ? fmtValue(mean) : `${fmtValue(mean)} ± ${fmtValue(sd, 2)}`;
}

function bestConfig(b) {
  return h(
    "div",
    { class: "best-config", dataset: { optimizer: b.optimizer } },
    h(
      "div",
      { class: "head" },
      h("span", { class: "swatch", style: { background: b.color } }),
      optimizerBadge(b.optimizer),
      Object.entries(b.params).map(([k, v]) =>
        h("span", { class: "param" }, h("span", { class: "k" }, k), v),
      ),
    ),
    h(
      "div",
      { class: "losses" },
      h("span", {}, "final ", h("b", {}, meanSd(b.final_mean, b.final_sd))),
      h("span", {}, "best ", h("b", {}, meanSd(b.best_mean, b.best_sd))),
      h("span", {}, `${b.seeds} seed${b.seeds === 1 ? "" : "s"}`),
    ),
    h(
      "div",
      { class: "losses" },
      h(
        "span",
        {},
        "runs ",
        b.runs.map((id) =>
          isShared
            ? h("span", { class: "run-link" }, `#${id}`)
            : h("a", { class: "run-link", href: `/runs/${id}` }, `#${id}`),
        ),
      ),
    ),
  );
}

export function renderBest(view) {
  const box = document.getElementById("best");
  if (!view.best.length) {
    replace(
      box,
      h(
        "div",
        { class: "card-body muted" },
        "None yet: a configuration qualifies once every one of its seeds ran to the end without diverging or being stopped early.",
      ),
    );
    return;
  }
  const allRuns = view.best.flatMap((b) => b.runs);
  replace(
    box,
    view.best.map(bestConfig),
    h(
      "div",
      { class: "card-foot" },
      h(
        "span",
        { class: "muted", style: { fontSize: "12px" } },
        "Lowest mean final eval loss among configurations whose seeds all ran to the end. ",
      ),
      allRuns.length > 1 && !isShared
        ? h("a", { class: "btn btn-sm", href: `/compare?runs=${allRuns.join(",")}` }, "Compare these runs")
        : null,
    ),
  );
}

const COMPUTE_PARTS = [
  ["run_steps", "run", "run"],
  ["saved_by_early_stopping", "asha", "saved by ASHA"],
  ["saved_by_divergence", "diverged", "saved by divergence stops"],
  ["not_run_other", "other", "failed or cancelled"],
  ["pending_steps", "pending", "still to run"],
];

export function renderCompute(view) {
  const c = view.compute;
  const box = document.getElementById("compute");
  const total = c.planned_steps || 1;
  const parts = COMPUTE_PARTS.filter(([key]) => c[key] > 0);
  const stops = view.decisions.filter((d) => d.action === "stop").length;
  replace(
    box,
    h(
      "div",
      { class: "compute-bar", title: `${fmtInt(c.planned_steps)} trial-steps in the full grid` },
      parts.map(([key, cls]) =>
        h("span", { class: `part ${cls}`, style: { width: `${(c[key] / total) * 100}%` } }),
      ),
    ),
    h(
      "dl",
      { class: "kv compute-legend" },
      parts.flatMap(([key, cls, label]) => [
        h("dt", {}, h("span", { class: `key ${cls}` }), label),
        h("dd", {}, `${fmtInt(c[key])} (${pct(c[key] / total)})`),
      ]),
      h("dt", {}, "full grid"),
      h("dd", {}, `${fmtInt(c.planned_steps)} trial-steps`),
    ),
    h(
      "p",
      { class: "muted compute-note" },
      view.sweep.asha
        ? `ASHA made ${fmtInt(view.decisions.length)} decisions and stopped ${fmtInt(stops)} trial${stops === 1 ? "" : "s"}.`
        : "No early stopping: this spec has no asha section.",
    ),
  );
}
