// The runs table: columns, sorting and the row cells (rows come from /api/v1/views).

import { h } from "./dom.js";
import { fmtAgo, fmtDuration, fmtValue, lossKey } from "./format.js";
import { runActionButtons } from "./run_actions.js";
import { optimizerBadge, progressView, STATUSES, statusBadge, tagList } from "./ui.js";

function hp(row, ...keys) {
  for (const k of keys) if (row.hparams[k] !== undefined) return row.hparams[k];
  return null;
}

function flagsCell(flags) {
  if (!flags.total) return h("span", { class: "faint" }, "—");
  const kinds = Object.entries(flags.kinds)
    .map(([k, n]) => `${k.replaceAll("_", " ")} ×${n}`)
    .join(", ");
  return h("span", { class: `badge sev-${flags.worst || "info"}`, title: kinds }, `⚑ ${flags.total}`);
}

function otherParams(row) {
  const parts = [];
  const betas = hp(row, "betas");
  if (betas) parts.push(`β ${betas}`);
  const momentum = hp(row, "momentum");
  if (momentum) parts.push(`m ${momentum}`);
  const batch = hp(row, "batch_size");
  if (batch) parts.push(`bs ${batch}`);
  return parts.length
    ? h("span", { class: "mono muted" }, parts.join(" · "))
    : h("span", { class: "faint" }, "—");
}

// Runs from before creators were recorded have none: shown as unknown.
function creatorCell(name) {
  return name === null || name === undefined
    ? h("span", { class: "faint", title: "Not recorded" }, "—")
    : h("span", {}, name);
}

const num = (v) => (v === null ? Number.POSITIVE_INFINITY : Number.parseFloat(v));

// [id, header, sort key (row -> comparable) or null, cell (row, changed) -> node, class]
export const COLUMNS = [
  [
    "name",
    "Run",
    (r) => r.run.name.toLowerCase(),
    (r) => [
      h("a", { class: "run-name", href: `/runs/${r.run.id}` }, r.run.name),
      h("div", { class: "cell-sub" }, `#${r.run.id} · ${fmtAgo(r.run.created_at)} `, tagList(r.run.tags)),
    ],
  ],
  [
    "status",
    "Status",
    (r) => STATUSES.indexOf(r.run.status),
    (r) => statusBadge(r.run.status, r.run.stop_requested),
  ],
  ["progress", "Progress", (r) => r.progress ?? -1, (r) => progressView(r)],
  ["optimizer", "Optimizer", (r) => r.run.optimizer || "~", (r) => optimizerBadge(r.run.optimizer)],
  ["lr", "lr", (r) => num(hp(r, "lr")), (r) => h("span", { class: "mono" }, hp(r, "lr") ?? "—"), "right"],
  [
    "wd",
    "wd",
    (r) => num(hp(r, "weight_decay", "wd")),
    (r) => h("span", { class: "mono" }, hp(r, "weight_decay", "wd") ?? "—"),
    "right",
  ],
  ["other", "Other", null, (r) => otherParams(r)],
  [
    "last_loss",
    "Last loss",
    (r) => lossKey(r.last_loss),
    (r) => h("span", { class: "num", title: r.loss_key || "" }, fmtValue(r.last_loss)),
    "right",
  ],
  [
    "best_loss",
    "Best loss",
    (r) => lossKey(r.best_loss),
    (r) => h("span", { class: "num" }, fmtValue(r.best_loss)),
    "right",
  ],
  ["flags", "Flags", (r) => -r.flags.total, (r) => flagsCell(r.flags)],
  [
    "created_by",
    "Created by",
    (r) => (r.run.created_by ?? "~").toLowerCase(),
    (r) => creatorCell(r.run.created_by),
  ],
  [
    "duration",
    "Duration",
    (r) => r.duration_s ?? -1,
    (r) => h("span", { class: "num" }, fmtDuration(r.duration_s)),
    "right",
  ],
  [
    "actions",
    "",
    null,
    (r, changed) =>
      h("div", { class: "actions", style: { justifyContent: "flex-end" } }, runActionButtons(r, changed)),
  ],
];

export function sortRows(rows, sort) {
  const column = COLUMNS.find((c) => c[0] === sort.key);
  if (!column || !column[2]) return rows;
  const key = column[2];
  const dir = sort.dir === "asc" ? 1 : -1;
  return [...rows].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return (x < y ? -1 : x > y ? 1 : 0) * dir || b.run.id - a.run.id;
  });
}

export function matchesText(row, text) {
  if (!text) return true;
  const q = text.toLowerCase();
  const { run } = row;
  return (
    run.name.toLowerCase().includes(q) ||
    String(run.id) === q.replace("#", "") ||
    run.tags.some((t) => t.toLowerCase().includes(q))
  );
}
