// A project's saved comparisons: name, description, who saved it and when, how many runs;
// each opens the compare page as it was saved; editors can make a read-only share link of one.

import { api, get } from "../api.js";
import { h, replace } from "../dom.js";
import { fmtAgo, fmtDateTime, fmtInt } from "../format.js";
import { canEdit } from "../roles.js";
import { confirmButton, emptyState, errorState, toast } from "../ui.js";
import { createShare } from "../share_link.js";

const projectId = document.body.dataset.projectId;
const box = document.getElementById("comparisons");
const canShare = box.dataset.canShare === "true"; // an editor's: a share link of a comparison

function row(c) {
  const remove = !canEdit ? null : confirmButton("Delete", "Delete it?", async () => {
    try {
      await api(`/comparisons/${c.id}`, { method: "DELETE" });
      load();
    } catch (err) {
      toast(`Could not delete: ${err.message}`, { kind: "error" });
    }
  });
  const share = canShare
    ? h("button", { class: "btn btn-sm share-comparison", type: "button" }, "Share")
    : null;
  share?.addEventListener("click", () =>
    createShare("comparison", c.id, document.getElementById("share-created"), share),
  );
  return h(
    "tr",
    { dataset: { comparison: c.id } },
    h(
      "td",
      {},
      h("a", { class: "run-name", href: `/compare?comparison=${c.id}` }, c.name),
      c.description ? h("div", { class: "cell-sub" }, c.description) : null,
    ),
    h("td", { class: "right num" }, fmtInt(c.state.runs.length)),
    h("td", { class: "muted" }, c.created_by),
    h("td", { class: "muted nowrap", title: fmtDateTime(c.created_at) }, fmtAgo(c.created_at)),
    h("td", { class: "right nowrap" }, share, " ", remove),
  );
}

function table(items) {
  const head = h(
    "tr",
    {},
    h("th", {}, "Comparison"),
    h("th", { class: "right" }, "Runs"),
    h("th", {}, "Saved by"),
    h("th", {}, "Saved"),
    h("th", {}),
  );
  return h(
    "table",
    { class: "data", id: "comparisons-table" },
    h("thead", {}, head),
    h("tbody", {}, items.map(row)),
  );
}

function empty() {
  return emptyState(
    "No saved comparisons yet",
    "Select runs in the runs table and press Compare, then Save comparison: it is listed here for everyone in the project.",
    h("a", { class: "btn", href: `/projects/${projectId}` }, "Go to the runs"),
  );
}

async function load() {
  let page;
  try {
    page = await get(`/projects/${projectId}/comparisons`, { limit: 500 });
  } catch (err) {
    replace(box, errorState(err.message, load));
    return;
  }
  const n = page.total;
  document.getElementById("comparison-count").textContent = n
    ? `${n} comparison${n === 1 ? "" : "s"}${n > page.items.length ? `, newest ${page.items.length} shown` : ""}`
    : "";
  replace(box, page.items.length ? table(page.items) : empty());
}

load();
