// The run page's panels: header badges and actions, summary tiles, flags, configuration.

import { isShared } from "./api.js";
import { h, replace } from "./dom.js";
import { fmtAgo, fmtDateTime, fmtDuration, fmtInt, fmtValue } from "./format.js";
import { runActionButtons } from "./run_actions.js";
import { canEdit } from "./roles.js";
import { emptyState, optimizerBadge, progressView, severityBadge, statusBadge, tagList } from "./ui.js";

export function renderHeader(view, changed) {
  const { run } = view.row;
  replace(
    document.getElementById("run-badges"),
    statusBadge(run.status, run.stop_requested),
    " ",
    optimizerBadge(run.optimizer),
    " ",
    tagList(run.tags),
  );
  const created = `created ${fmtAgo(run.created_at)}`;
  const parts = [`Run ${run.id}`, run.created_by ? `${created} by ${run.created_by}` : created];
  if (run.worker) parts.push(`on ${run.worker}`);
  if (run.attempts > 1) parts.push(`attempt ${run.attempts}`);
  replace(document.getElementById("run-sub"), parts.join(" · "));
  if (isShared) return renderAlert(run); // a share link's page: no actions, no other pages
  const links = [h("a", { class: "btn", href: `/compare?runs=${run.id}` }, "Compare")];
  if (run.config.sweep?.id)
    links.unshift(
      h(
        "a",
        { class: "btn", href: `/sweeps/${run.config.sweep.id}`, id: "run-sweep" },
        `Sweep (trial ${run.config.sweep.trial})`,
      ),
    );
  if (run.job && canEdit)
    links.push(
      h("a", { class: "btn", href: `/projects/${run.project_id}/submit?from=${run.id}` }, "Edit & resubmit"),
    );
  replace(
    document.getElementById("run-actions"),
    ...runActionButtons(view.row, changed, { small: false }),
    ...links,
  );
  renderAlert(run);
}

function renderAlert(run) {
  const box = document.getElementById("run-alert");
  let alert = null;
  if (run.error) {
    alert = h(
      "div",
      { class: `callout ${run.status === "queued" ? "warning" : "error"}` },
      h("b", {}, run.status === "queued" ? "Requeued. " : "Error. "),
      h("pre", {}, run.error),
    );
  } else if (run.stop_requested && run.status === "running") {
    alert = h(
      "div",
      { class: "callout info" },
      `Stop requested (${run.stop_requested}): the worker stops at its next heartbeat. Metrics logged so far are kept.`,
    );
  } else if (run.status === "queued") {
    alert = h(
      "div",
      { class: "callout info" },
      "Queued: waiting for a worker to claim this job. Start one with ",
      h("code", {}, "lionlab worker"),
      ".",
    );
  }
  replace(box, alert ? h("div", { style: { marginBottom: "16px" } }, alert) : "");
}

function tile(label, value, sub) {
  return h(
    "div",
    { class: "card tile" },
    h("div", { class: "k" }, label),
    h("div", { class: "v" }, value),
    h("div", { class: "s" }, sub || "\u00a0"),
  );
}

export function renderTiles(row) {
  const { run } = row;
  const flagSub = Object.entries(row.flags.kinds)
    .map(([k, n]) => `${k.replaceAll("_", " ")} ×${n}`)
    .join(", ");
  const durationSub = run.started_at ? `started ${fmtAgo(run.started_at)}` : "not started";
  replace(
    document.getElementById("tiles"),
    tile(
      "Progress",
      progressView(row),
      row.total_steps ? `${fmtInt(row.total_steps)} steps` : "logged by a script",
    ),
    tile(
      `Last ${row.loss_key || "loss"}`,
      fmtValue(row.last_loss),
      row.step !== null ? `at step ${fmtInt(row.step)}` : "nothing logged yet",
    ),
    tile(`Best ${row.loss_key || "loss"}`, fmtValue(row.best_loss), "lowest finite value"),
    tile("Duration", fmtDuration(row.duration_s), durationSub),
    tile("Flags", String(row.flags.total), row.flags.total ? flagSub : "no detector findings"),
  );
}

export function renderFlags(flags, onPick) {
  document.getElementById("flag-count").textContent = flags.length ? String(flags.length) : "";
  const box = document.getElementById("flags");
  if (!flags.length) {
    replace(
      box,
      h(
        "div",
        { class: "card-body muted" },
        "No flags. Detectors flag divergence, gradient-norm drift and loss steps here.",
      ),
    );
    return;
  }
  const items = flags.map((f) => {
    const span =
      f.start_step === f.end_step
        ? `step ${fmtInt(f.start_step)}`
        : `steps ${fmtInt(f.start_step)}–${fmtInt(f.end_step)}`;
    const li = h(
      "li",
      { title: "Zoom the charts to this span", dataset: { flag: f.id } },
      h("div", { class: "head" }, h("b", {}, f.kind.replaceAll("_", " ")), severityBadge(f.severity)),
      h("div", { class: "cell-sub" }, span),
      h("div", { class: "msg" }, f.message),
    );
    li.addEventListener("click", () => onPick(f));
    return li;
  });
  replace(box, h("ul", { class: "flag-list" }, items));
}

export function renderConfig(view) {
  const { run } = view.row;
  const entries = Object.entries(view.params).filter(([k]) => k !== "optimizer" || !run.job);
  const times = [
    ["created", fmtDateTime(run.created_at)],
    ["started", fmtDateTime(run.started_at)],
    ["finished", fmtDateTime(run.finished_at)],
  ];
  const dl = (pairs) =>
    h(
      "dl",
      { class: "kv" },
      pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    );
  replace(
    document.getElementById("config"),
    entries.length ? dl(entries) : emptyState("No configuration", "This run was logged without a config."),
    h("h3", { style: { margin: "16px 0 8px" } }, "Lifecycle"),
    dl(times),
  );
}
