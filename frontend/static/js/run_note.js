// The run page's note: markdown rendered by the server, an Edit button that swaps in a
// textarea, and Save (PUT /runs/{id}/note).
//
// The server's HTML is escaped text inside markdown structure; it is still parsed into an
// inert document and copied over through an allowlist (tags, attributes, http(s) links only),
// so no markup from a note can run in the page even if the renderer ever let some through.

import { api, get } from "./api.js";
import { h, replace } from "./dom.js";
import { fmtDateTime } from "./format.js";
import { toast } from "./ui.js";

const TAGS = new Set(
  "p h1 h2 h3 h4 h5 h6 ul ol li blockquote pre code em strong s del a hr br table thead tbody tr th td"
    .split(" "),
);
const ATTRS = { a: ["href", "rel", "target"], ol: ["start"], th: ["style"], td: ["style"] };
const MAX_CHARS = 20000;

function safeHref(value) {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function copyAllowed(source) {
  const out = [];
  for (const node of source.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      out.push(document.createTextNode(node.textContent));
      continue;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) continue;
    const tag = node.tagName.toLowerCase();
    if (!TAGS.has(tag)) {
      out.push(document.createTextNode(node.textContent)); // unexpected markup: its text only
      continue;
    }
    const el = document.createElement(tag);
    for (const name of ATTRS[tag] || []) {
      const value = node.getAttribute(name);
      if (value === null) continue;
      if (name === "href" && !safeHref(value)) continue;
      if (name === "style" && !/^text-align:(left|right|center)$/.test(value)) continue;
      el.setAttribute(name, value);
    }
    el.append(...copyAllowed(node));
    out.push(el);
  }
  return out;
}

export function noteNodes(html) {
  const inert = new DOMParser().parseFromString(html, "text/html"); // runs nothing, loads nothing
  return copyAllowed(inert.body);
}

function editedLine(note) {
  if (!note.updated_at) return "";
  return `Edited by ${note.updated_by} · ${fmtDateTime(note.updated_at)}`;
}

export class RunNote {
  constructor(card, runId) {
    this.card = card;
    this.runId = runId;
    this.body = card.querySelector("#note");
    this.meta = card.querySelector("#note-meta");
    this.editButton = card.querySelector("#note-edit"); // absent for viewers
    this.editButton?.addEventListener("click", () => this.edit());
    this.note = null;
  }

  async load() {
    try {
      this.show(await get(`/runs/${this.runId}/note`));
    } catch (err) {
      replace(this.body, h("div", { class: "muted" }, `Could not load the note: ${err.message}`));
    }
  }

  show(note) {
    this.note = note;
    if (this.editButton) this.editButton.hidden = false;
    replace(this.meta, editedLine(note));
    if (!note.text) {
      const hint = this.editButton ? "No note yet. Edit to write one (markdown)." : "No note.";
      replace(this.body, h("div", { class: "muted", id: "note-empty" }, hint));
      return;
    }
    replace(this.body, h("div", { class: "markdown", id: "note-text" }, noteNodes(note.html)));
  }

  edit() {
    this.editButton.hidden = true;
    const area = h("textarea", {
      id: "note-input",
      rows: 8,
      maxlength: MAX_CHARS,
      "aria-label": "Note (markdown)",
      placeholder: "Why this run, what you saw… (markdown)",
    });
    area.value = this.note?.text || "";
    const error = h("div", { class: "fieldset-error", id: "note-error", role: "alert" });
    const save = h("button", { class: "btn btn-primary btn-sm", type: "button", id: "note-save" }, "Save");
    const cancel = h("button", { class: "btn btn-sm", type: "button", id: "note-cancel" }, "Cancel");
    save.addEventListener("click", async () => {
      save.disabled = true;
      try {
        this.show(await api(`/runs/${this.runId}/note`, { method: "PUT", body: { text: area.value } }));
        toast("Note saved.");
      } catch (err) {
        replace(error, err.message); // the text stays in the box: nothing typed is lost
        save.disabled = false;
      }
    });
    cancel.addEventListener("click", () => this.show(this.note));
    const buttons = h("div", { class: "actions" }, save, cancel);
    replace(this.body, h("div", { class: "stack", style: { gap: "8px" } }, area, error, buttons));
    area.focus();
  }
}
