// Shared widgets: badges, progress, toasts, empty states, two-step confirm buttons, sortable
// table headers.

import { LIFECYCLE } from "/lifecycle.js"; // served from lionlab/lifecycle.py
import { h } from "./dom.js";
import { fmtDuration, fmtInt } from "./format.js";

// Run statuses in display order, and those of runs still to end (queued, running).
export const STATUSES = LIFECYCLE.statuses.map((s) => s.name);
export const ACTIVE_STATUSES = LIFECYCLE.statuses.filter((s) => s.active).map((s) => s.name);
const STATUS_LABELS = Object.fromEntries(LIFECYCLE.statuses.map((s) => [s.name, s.label]));
STATUS_LABELS.pending = "Pending"; // a sweep trial whose run does not exist yet

export function statusLabel(status) {
  return STATUS_LABELS[status] || status;
}

export function statusBadge(status, stopRequested = null) {
  const label = stopRequested && status === "running" ? "Stopping" : statusLabel(status);
  return h(
    "span",
    { class: `badge status-${status}`, dataset: { status } },
    h("span", { class: "dot" }),
    label,
  );
}

export function optimizerBadge(name) {
  if (!name) return h("span", { class: "faint" }, "—");
  return h("span", { class: `badge opt opt-${name.toLowerCase()}` }, name);
}

export function severityBadge(severity) {
  return h("span", { class: `badge sev-${severity}` }, severity);
}

export function tagList(tags) {
  return (tags || []).map((t) => h("span", { class: "tag" }, t));
}

export function progressView(row) {
  const status = row.run.status;
  if (row.progress === null || row.progress === undefined) {
    const text = row.step === null ? "no steps yet" : `step ${fmtInt(row.step)}`;
    return h("div", { class: "progress" }, h("div", { class: "meta" }, h("span", {}, text)));
  }
  const pct = Math.round(row.progress * 1000) / 10;
  const barClass =
    status === "succeeded" ? "bar done" : ACTIVE_STATUSES.includes(status) ? "bar" : "bar stopped";
  const right = status === "running" && row.eta_s !== null ? `ETA ${fmtDuration(row.eta_s)}` : `${pct}%`;
  // A job's steps count from 1, so its last step logged is the number of steps done.
  const left = `${fmtInt(row.step === null ? 0 : row.step)} / ${fmtInt(row.total_steps)}`;
  return h(
    "div",
    { class: "progress", title: `${pct}% of ${fmtInt(row.total_steps)} steps` },
    h("div", { class: barClass }, h("span", { style: { width: `${pct}%` } })),
    h("div", { class: "meta num" }, h("span", {}, left), h("span", {}, right)),
  );
}

export function toast(message, { kind = "info", link = null, ms = 5000 } = {}) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  if (link) el.append(" ", h("a", { href: link.href }, link.text));
  box.append(el);
  setTimeout(() => el.remove(), ms);
}

export function emptyState(title, text, ...extra) {
  return h("div", { class: "empty" }, h("h2", {}, title), text ? h("p", {}, text) : null, ...extra);
}

export function errorState(message, retry) {
  return h(
    "div",
    { class: "empty" },
    h("h2", {}, "Could not load this"),
    h("p", {}, message),
    retry ? h("button", { class: "btn", type: "button", onclick: retry }, "Try again") : null,
  );
}

// A button that asks for a second click within 4 s before acting (no modal dialogs).
export function confirmButton(label, confirmLabel, action, className = "btn btn-sm btn-danger") {
  let timer = null;
  const button = h("button", { class: className, type: "button" }, label);
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    if (!button.classList.contains("confirming")) {
      button.classList.add("confirming");
      button.textContent = confirmLabel;
      timer = setTimeout(() => {
        button.classList.remove("confirming");
        button.textContent = label;
      }, 4000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
      button.classList.remove("confirming");
      button.textContent = label;
    }
  });
  return button;
}

// A table header cell from a column [id, label, sortKey, cell, class]: a sortable one shows
// the sort direction and calls onSort(id) when clicked.
export function sortHeader([id, label, key, , cls], sort, onSort) {
  const arrow = sort.key === id ? (sort.dir === "asc" ? "▲" : "▼") : "";
  const th = h(
    "th",
    { class: [key ? "sortable" : "", cls || ""].join(" "), dataset: { sort: id } },
    label,
    " ",
    h("span", { class: "arrow" }, arrow),
  );
  if (key) th.addEventListener("click", () => onSort(id));
  return th;
}
