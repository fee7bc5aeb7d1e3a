// A project's sweeps: status, progress over trials, what they compare. Refreshes while any
// sweep is running.

import { get } from "../api.js";
import { h, replace } from "../dom.js";
import { fmtAgo, fmtInt } from "../format.js";
import { canEdit } from "../roles.js";
import { countsText, optimizerName, sweepBadge, sweepProgress } from "../sweep_status.js";
import { emptyState, errorState, optimizerBadge } from "../ui.js";

const projectId = document.body.dataset.projectId;
const box = document.getElementById("sweeps");
const REFRESH_MS = 4000;
let timer = null;

function optimizers(sweep) {
  const names = sweep.spec.optimizers || ["adamw", "lion"];
  return h(
    "span",
    { class: "opt-list" },
    names.map((n) => optimizerBadge(n)),
  );
}

function row(sweep) {
  return h(
    "tr",
    { dataset: { sweep: sweep.id } },
    h(
      "td",
      {},
      h("a", { class: "run-name", href: `/sweeps/${sweep.id}` }, sweep.name),
      h("div", { class: "cell-sub" }, `#${sweep.id}${sweep.description ? ` · ${sweep.description}` : ""}`),
    ),
    h("td", {}, sweepBadge(sweep.status)),
    h("td", {}, sweepProgress(sweep)),
    h("td", { class: "muted", style: { fontSize: "12.5px" } }, countsText(sweep.counts) || "—"),
    h("td", {}, optimizers(sweep)),
    h("td", { class: "right num" }, fmtInt(sweep.trials_total)),
    h("td", {}, sweep.asha ? h("span", { class: "badge" }, "ASHA") : h("span", { class: "faint" }, "—")),
    h("td", { class: "muted nowrap" }, fmtAgo(sweep.created_at)),
    h(
      "td",
      { class: "right" },
      h("a", { class: "btn btn-sm", href: `/sweeps/${sweep.id}/report` }, "Report"),
    ),
  );
}

function table(items) {
  const head = h(
    "tr",
    {},
    ["Sweep", "Status", "Progress", "Trials by status", "Optimizers"].map((t) => h("th", {}, t)),
    h("th", { class: "right" }, "Trials"),
    h("th", {}, "Early stop"),
    h("th", {}, "Created"),
    h("th", {}),
  );
  return h(
    "table",
    { class: "data", id: "sweeps-table" },
    h("thead", {}, head),
    h("tbody", {}, items.map(row)),
  );
}

function empty() {
  return emptyState(
    "No sweeps yet",
    `A sweep runs ${optimizerName("lion")} and ${optimizerName("adamw")} over a grid of learning rates and weight decays with several seeds, stops hopeless trials early and tells you which was faster, with a confidence interval.`,
    canEdit ? h("a", { class: "btn btn-primary", href: `/projects/${projectId}/sweeps/new` }, "Start a sweep") : null,
  );
}

async function load() {
  clearTimeout(timer);
  let page;
  try {
    page = await get("/sweeps", { project_id: projectId, limit: 200 });
  } catch (err) {
    replace(box, errorState(err.message, load));
    return;
  }
  const n = page.total;
  document.getElementById("sweep-count").textContent = n ? `${n} sweep${n === 1 ? "" : "s"}` : "";
  replace(box, page.items.length ? table(page.items) : empty());
  if (page.items.some((s) => s.status === "running")) timer = setTimeout(load, REFRESH_MS);
}

load();
