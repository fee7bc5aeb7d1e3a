// The runs table: its columns, which of them the server sorts by, and the row cells (rows
// come from /api/v1/views, one page at a time).

import { h } from "./dom.js";
import { fmtAgo, fmtDateTime, fmtDuration, fmtValue } from "./format.js";
import { runActionButtons } from "./run_actions.js";
import { optimizerBadge, progressView, statusBadge, tagList } from "./ui.js";

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

const muted = (text) => h("span", { class: "faint" }, text);

// [id, header, server sort (GET .../runs `sort`, without "-") or null, cell (row, changed) ->
// node, class]. Only columns the server orders by sort: the table holds one page of rows.
// The loss columns sort by the project's loss key (GET .../columns `loss_key`).
function builtIn(lossKey) {
  const loss = (summary) => (lossKey ? `metric.${lossKey}.${summary}` : null);
  return [
    [
      "name",
      "Run",
      "name",
      (r) => [
        h("a", { class: "run-name", href: `/runs/${r.run.id}` }, r.run.name),
        h("div", { class: "cell-sub" }, `#${r.run.id} `, tagList(r.run.tags)),
      ],
    ],
    ["status", "Status", "status", (r) => statusBadge(r.run.status, r.run.stop_requested)],
    ["progress", "Progress", null, (r) => progressView(r)],
    ["optimizer", "Optimizer", "optimizer", (r) => optimizerBadge(r.run.optimizer)],
    ["lr", "lr", null, (r) => h("span", { class: "mono" }, hp(r, "lr") ?? "—"), "right"],
    ["wd", "wd", null, (r) => h("span", { class: "mono" }, hp(r, "weight_decay", "wd") ?? "—"), "right"],
    ["other", "Other", null, (r) => otherParams(r)],
    [
      "last_loss",
      "Last loss",
      loss("last"),
      (r) => h("span", { class: "num", title: r.loss_key || "" }, fmtValue(r.last_loss)),
      "right",
    ],
    ["best_loss", "Best loss", loss("min"), (r) => h("span", { class: "num" }, fmtValue(r.best_loss)), "right"],
    ["flags", "Flags", null, (r) => flagsCell(r.flags)],
    ["created_by", "Created by", "created_by", (r) => creatorCell(r.run.created_by)],
    [
      "created_at",
      "Created",
      "created_at",
      (r) => h("span", { class: "muted", title: fmtDateTime(r.run.created_at) }, fmtAgo(r.run.created_at)),
    ],
    ["duration", "Duration", null, (r) => h("span", { class: "num" }, fmtDuration(r.duration_s)), "right"],
  ];
}

const ACTIONS = [
  "actions",
  "",
  null,
  (r, changed) =>
    h("div", { class: "actions", style: { justifyContent: "flex-end" } }, runActionButtons(r, changed)),
];

// A chosen column: "param:<key>" or "metric:<key>.last|min|max" (the API's `columns`).
export function parseColumn(id) {
  const param = /^param:(.+)$/.exec(id);
  if (param) return { id, kind: "param", key: param[1] };
  const metric = /^metric:(.+)\.(last|min|max)$/.exec(id);
  return metric ? { id, kind: "metric", key: metric[1], summary: metric[2] } : null;
}

export function columnLabel(id) {
  const c = parseColumn(id);
  if (!c) return id;
  return c.kind === "param" ? c.key : `${c.key} (${c.summary})`;
}

function chosenColumn(id) {
  const c = parseColumn(id);
  const value = (r) => r.columns?.[id] ?? null;
  if (c.kind === "param") {
    return [id, columnLabel(id), null, (r) => (value(r) === null ? muted("—") : h("span", { class: "mono" }, value(r))), "right"];
  }
  return [
    id,
    columnLabel(id),
    `metric.${c.key}.${c.summary}`,
    (r) => (value(r) === null ? muted("—") : h("span", { class: "num" }, fmtValue(value(r)))),
    "right",
  ];
}

// The table's columns: the built-in ones, the chosen ones, then the row actions.
export function tableColumns(lossKey, chosen) {
  return [...builtIn(lossKey), ...chosen.filter(parseColumn).map(chosenColumn), ACTIONS];
}
