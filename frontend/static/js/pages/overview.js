// A project's overview, its landing page: runs per status, each optimizer's best runs by a
// chosen metric, the newest detector flags and the sweeps with their verdicts. One request
// (GET /projects/{id}/overview) fills it all; every piece of user text goes in as text.

import { get } from "../api.js";
import { setUrlParams } from "../controls.js";
import { h, replace } from "../dom.js";
import { fmtAgo, fmtInt, fmtValue } from "../format.js";
import { canEdit } from "../roles.js";
import { countsText, optimizerName, sweepBadge } from "../sweep_status.js";
import { emptyState, errorState, optimizerBadge, severityBadge, statusBadge, statusLabel } from "../ui.js";

const projectId = document.body.dataset.projectId;
const projectName = document.body.dataset.projectName;
const params = new URLSearchParams(location.search);
const state = { metric: params.get("metric") || "", mode: params.get("mode") || "" };
const metricSelect = document.getElementById("metric-select");
const modeSelect = document.getElementById("mode-select");

// The sweep page's headlines, short: a badge per verdict status.
const VERDICT_BADGES = {
  challenger_faster: (c) => `${c} faster`,
  baseline_faster: (c, b) => `${b} faster`,
  no_significant_difference: () => "No significant difference",
  target_not_reached: (c) => `${c} missed the target`,
  insufficient_data: () => "Not enough data yet",
};

function tile(label, value, href, status) {
  return h(
    "a",
    { class: "card tile", href, dataset: status ? { status } : { status: "total" } },
    h("div", { class: "k" }, label),
    h("div", { class: "v" }, fmtInt(value)),
  );
}

function renderTiles(body) {
  const base = `/projects/${projectId}`;
  replace(
    document.getElementById("status-tiles"),
    tile("Runs", body.runs_total, base, null),
    Object.entries(body.status_counts).map(([status, n]) =>
      tile(statusLabel(status), n, `${base}?status=${encodeURIComponent(status)}`, status),
    ),
  );
}

function renderPicker(body) {
  const keys = Object.entries(body.metric_keys);
  if (body.metric && !(body.metric in body.metric_keys)) keys.unshift([body.metric, 0]);
  metricSelect.replaceChildren(
    ...keys.map(([key, runs]) =>
      h("option", { value: key, selected: key === body.metric }, `${key} (${fmtInt(runs)} runs)`),
    ),
  );
  metricSelect.disabled = !keys.length;
  modeSelect.value = body.mode;
  const note = body.metric
    ? `each run's ${body.mode === "min" ? "lowest" : "highest"} ${body.metric}, NaN left out`
    : "";
  document.getElementById("metric-note").textContent = note;
}

// A learning rate as people write it: 1e-4, 3e-4, 0.001.
function fmtLr(v) {
  if (v === null) return "—";
  return v !== 0 && Math.abs(v) < 1e-3 ? Number(v.toPrecision(3)).toExponential() : fmtValue(v);
}

function valueCell(v) {
  return h("td", { class: "right num" }, fmtValue(v));
}

function optimizerTable(body, group) {
  const name = group.optimizer || "other";
  const ids = group.best.map((r) => r.id);
  const compare =
    ids.length > 1
      ? h("a", { class: "btn btn-sm compare-these", href: `/compare?runs=${ids.join(",")}` }, "Compare these")
      : null;
  const head = h(
    "div",
    { class: "opt-head" },
    group.optimizer ? optimizerBadge(group.optimizer) : h("span", { class: "badge" }, "no optimizer"),
    h(
      "span",
      { class: "muted" },
      `${fmtInt(group.runs)} run${group.runs === 1 ? "" : "s"}, ${fmtInt(group.ranked)} with ${body.metric}`,
    ),
    h("span", { class: "spacer", style: { flex: "1" } }),
    compare,
  );
  if (!group.best.length) {
    return h(
      "section",
      { class: "opt-table", dataset: { optimizer: name } },
      head,
      h("p", { class: "muted opt-none" }, `No ${optimizerName(name)} run logged a number for ${body.metric}.`),
    );
  }
  const rows = group.best.map((r, i) =>
    h(
      "tr",
      { dataset: { run: r.id } },
      h("td", { class: "num muted" }, String(i + 1)),
      h(
        "td",
        {},
        h("a", { class: "run-name", href: `/runs/${r.id}` }, r.name),
        h("div", { class: "cell-sub" }, `#${r.id}`),
      ),
      h("td", {}, statusBadge(r.status)),
      h("td", { class: "right mono nowrap" }, fmtLr(r.lr)),
      valueCell(r.value),
      h("td", { class: "right num muted", title: r.last_step === null ? "" : `step ${fmtInt(r.last_step)}` }, fmtValue(r.last)),
    ),
  );
  return h(
    "section",
    { class: "opt-table", dataset: { optimizer: name } },
    head,
    h(
      "table",
      { class: "data" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "#"),
          h("th", {}, "Run"),
          h("th", {}, "Status"),
          h("th", { class: "right" }, "lr"),
          h("th", { class: "right" }, body.mode === "min" ? "Best (min)" : "Best (max)"),
          h("th", { class: "right" }, "Last"),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

function noRuns() {
  return emptyState(
    "No runs yet",
    "Submit a training job from the browser, or log a run from your own script; the best runs of each optimizer appear here.",
    h(
      "pre",
      {},
      `import lionlab\nrun = lionlab.init(project="${projectName}", optimizer="lion")\nrun.log({"eval_loss": loss}, step=step)`,
    ),
    h(
      "div",
      { style: { marginTop: "14px" } },
      canEdit ? h("a", { class: "btn btn-primary", href: `/projects/${projectId}/submit` }, "Submit a job") : null,
    ),
  );
}

function renderBest(body) {
  const box = document.getElementById("best");
  if (!body.runs_total) return replace(box, noRuns());
  if (!body.metric) {
    return replace(
      box,
      emptyState(
        "No metrics logged yet",
        "The project has runs but none has logged a metric. Log one with run.log({...}, step=step) and the best runs appear here.",
      ),
    );
  }
  replace(
    box,
    h(
      "div",
      { class: "opt-tables" },
      body.optimizers.map((g) => optimizerTable(body, g)),
    ),
  );
}

function renderFlags(body) {
  const box = document.getElementById("flags");
  const n = body.flags_total;
  document.getElementById("flag-count").textContent = n
    ? `${fmtInt(body.flags.length)} newest of ${fmtInt(n)}`
    : "";
  if (!body.flags.length) {
    return replace(
      box,
      h(
        "div",
        { class: "card-body muted" },
        "No flags. Detectors flag divergence, gradient-norm drift and loss steps as runs log train_loss and grad_norm.",
      ),
    );
  }
  const items = body.flags.map((f) => {
    const span =
      f.start_step === f.end_step
        ? `step ${fmtInt(f.start_step)}`
        : `steps ${fmtInt(f.start_step)}–${fmtInt(f.end_step)}`;
    return h(
      "li",
      { dataset: { flag: f.id, run: f.run_id } },
      h(
        "div",
        { class: "head" },
        h("b", {}, f.kind.replaceAll("_", " ")),
        severityBadge(f.severity),
      ),
      h(
        "div",
        { class: "cell-sub" },
        h("a", { class: "run-name", href: `/runs/${f.run_id}` }, f.run_name),
        ` · ${span} · ${fmtAgo(f.created_at)}`,
      ),
      h("div", { class: "msg" }, f.message),
    );
  });
  replace(box, h("ul", { class: "flag-list overview-flags" }, items));
}

function verdictBadge(sweep) {
  const v = sweep.verdict;
  const [chal, base] = [optimizerName(sweep.challenger), optimizerName(sweep.baseline)];
  if (!v) return h("span", { class: "badge verdict-badge", dataset: { verdict: "none" } }, "No verdict yet");
  const text = VERDICT_BADGES[v.status]?.(chal, base) || v.status;
  const preliminary = sweep.pending_trials > 0 ? " (preliminary)" : "";
  return h(
    "span",
    { class: "badge verdict-badge", dataset: { verdict: v.status }, title: v.text },
    `${text}${preliminary}`,
  );
}

function renderSweeps(body) {
  const box = document.getElementById("sweeps");
  if (!body.sweeps.length) {
    return replace(
      box,
      emptyState(
        "No sweeps yet",
        `A sweep runs ${optimizerName("lion")} and ${optimizerName("adamw")} over learning rates and seeds and says which was faster, with a confidence interval.`,
        canEdit ? h("a", { class: "btn btn-primary", href: `/projects/${projectId}/sweeps/new` }, "Start a sweep") : null,
      ),
    );
  }
  const rows = body.sweeps.map((s) =>
    h(
      "tr",
      { dataset: { sweep: s.id } },
      h(
        "td",
        {},
        h("a", { class: "run-name", href: `/sweeps/${s.id}` }, s.name),
        h("div", { class: "cell-sub" }, `#${s.id} · ${fmtAgo(s.created_at)} · ${countsText(s.counts) || "no trials"}`),
      ),
      h("td", {}, sweepBadge(s.status)),
      h("td", {}, verdictBadge(s)),
    ),
  );
  const more =
    body.sweeps_total > body.sweeps.length
      ? h("div", { class: "card-body muted" }, `${fmtInt(body.sweeps_total - body.sweeps.length)} older sweeps on the Sweeps tab.`)
      : null;
  replace(box, h("table", { class: "data", id: "overview-sweeps" }, h("tbody", {}, rows)), more);
}

async function load() {
  let body;
  try {
    body = await get(`/projects/${projectId}/overview`, { metric: state.metric, mode: state.mode });
  } catch (err) {
    replace(document.getElementById("best"), errorState(err.message, load));
    return;
  }
  renderTiles(body);
  renderPicker(body);
  renderBest(body);
  renderFlags(body);
  renderSweeps(body);
  document.body.dataset.loaded = "true";
}

metricSelect.addEventListener("change", () => {
  state.metric = metricSelect.value;
  state.mode = ""; // the key's own default (higher is better for accuracy)
  setUrlParams({ metric: state.metric, mode: null });
  load();
});
modeSelect.addEventListener("change", () => {
  state.mode = modeSelect.value;
  setUrlParams({ mode: state.mode });
  load();
});

load();
