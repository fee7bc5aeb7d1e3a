// A project's share links, for its owners: what each opens, who made it, when it expires,
// and Revoke. The secrets are not here (shown once, when a link is made).

import { api, get } from "../api.js";
import { h, replace } from "../dom.js";
import { fmtAgo, fmtDateTime } from "../format.js";
import { confirmButton, emptyState, errorState, toast } from "../ui.js";

const projectId = document.body.dataset.projectId;
const box = document.getElementById("shares");
const PAGE = { run: (id) => `/runs/${id}`, sweep: (id) => `/sweeps/${id}/report`, comparison: (id) => `/compare?comparison=${id}` };

function state(s) {
  if (s.revoked_at) return `revoked ${fmtAgo(s.revoked_at)}`;
  if (!s.live) return "expired";
  return "live";
}

function row(s) {
  const revoke = s.live
    ? confirmButton("Revoke", "Revoke it?", async () => {
        try {
          await api(`/shares/${s.id}`, { method: "DELETE" });
          toast("Link revoked: it no longer opens.");
          load();
        } catch (err) {
          toast(`Could not revoke: ${err.message}`, { kind: "error" });
        }
      })
    : null;
  return h(
    "tr",
    { dataset: { share: s.id }, class: s.live ? "" : "revoked" },
    h("td", {}, h("a", { href: PAGE[s.kind](s.object_id) }, `${s.kind} ${s.object_id}`)),
    h("td", { class: "mono muted" }, `${s.prefix}…`),
    h("td", { class: "muted" }, s.created_by),
    h("td", { class: "muted nowrap", title: fmtDateTime(s.created_at) }, fmtAgo(s.created_at)),
    h("td", { class: "nowrap" }, fmtDateTime(s.expires_at)),
    h("td", { class: "share-state" }, state(s)),
    h("td", { class: "right" }, revoke),
  );
}

function table(items) {
  const head = h(
    "tr",
    {},
    ["Shares", "Link", "Created by", "Created", "Expires", "State", ""].map((t) => h("th", {}, t)),
  );
  return h(
    "table",
    { class: "data shares-table", id: "shares-table" },
    h("thead", {}, head),
    h("tbody", {}, items.map(row)),
  );
}

async function load() {
  let items;
  try {
    items = await get(`/projects/${projectId}/shares`);
  } catch (err) {
    replace(box, errorState(err.message, load));
    return;
  }
  const live = items.filter((s) => s.live).length;
  document.getElementById("share-count").textContent = items.length
    ? `${live} live of ${items.length}`
    : "";
  replace(
    box,
    items.length
      ? table(items)
      : emptyState(
          "No share links yet",
          "An editor makes one with the Share button of a run, a sweep or a saved comparison.",
        ),
  );
}

load();
