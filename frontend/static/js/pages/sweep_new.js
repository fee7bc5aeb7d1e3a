// Start a sweep: a YAML/JSON spec in a textarea, POSTed as text to /api/v1/sweeps. A 422
// names each field at fault (loc ["body", "spec", "space.lion.optimizer.lr.low"]); each one is
// listed above the editor with the line it points at, a click selecting that line.

import { post } from "../api.js";
import { h, replace } from "../dom.js";
import { WARNINGS_KEY } from "../sweep_status.js";
import { toast } from "../ui.js";

const projectId = Number(document.body.dataset.projectId);
const form = document.getElementById("sweep-form");
const editor = document.getElementById("spec");
const errorsBox = document.getElementById("spec-errors");
const stateEl = document.getElementById("sweep-state");
const submitButton = document.getElementById("start-sweep");
const example = editor.value;

// The field a 422 names: the spec path after ["body", "spec"], or the body field itself.
function fieldOf(loc) {
  const parts = (loc || []).filter((p, i) => !(i === 0 && p === "body"));
  if (parts[0] === "spec") return parts.slice(1).join(".") || "spec";
  return parts.join(".") || "request";
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// The 0-based line of `field` in the spec text: each part of the path is found after the
// previous one; a part may itself hold dots (space keys are dotted paths: optimizer.lr).
function lineOf(text, field) {
  const lines = text.split("\n");
  const parts = field.split(".").filter((p) => p && !/^\d+$/.test(p));
  let at = -1;
  let i = 0;
  while (i < parts.length) {
    let found = false;
    for (let n = parts.length - i; n > 0 && !found; n--) {
      const key = new RegExp(`(^|[\\s{,"'])${escapeRegExp(parts.slice(i, i + n).join("."))}["']?\\s*:`);
      const from = Math.max(at, 0);
      const hit = lines.findIndex((line, j) => j >= from && key.test(line.replace(/#.*/, "")));
      if (hit >= 0) {
        at = hit;
        i += n;
        found = true;
      }
    }
    if (!found) break;
  }
  return at;
}

function selectLine(line) {
  const lines = editor.value.split("\n");
  const start = lines.slice(0, line).reduce((n, l) => n + l.length + 1, 0);
  editor.focus();
  editor.setSelectionRange(start, start + lines[line].length);
  const lineHeight = editor.scrollHeight / Math.max(lines.length, 1);
  editor.scrollTop = Math.max(0, (line - 3) * lineHeight);
}

function errorItem(err) {
  const field = fieldOf(err.loc);
  const line = lineOf(editor.value, field);
  const message = err.msg.startsWith(`${field} `) ? err.msg.slice(field.length + 1) : err.msg;
  const item = h(
    "div",
    { class: "callout error spec-error", role: "alert", dataset: { field } },
    h("code", { class: "field-name" }, field),
    " ",
    h("span", { class: "msg" }, message),
    line >= 0
      ? h(
          "button",
          { type: "button", class: "btn btn-sm btn-ghost goto", onclick: () => selectLine(line) },
          `line ${line + 1}`,
        )
      : null,
  );
  return item;
}

function showErrors(detail) {
  errorsBox.hidden = !detail.length;
  replace(errorsBox, detail.map(errorItem));
  editor.classList.toggle("invalid", detail.length > 0);
  const n = detail.length;
  stateEl.textContent = n ? `${n} problem${n === 1 ? "" : "s"} to fix` : "";
  stateEl.dataset.state = n ? "invalid" : "";
}

async function submit(event) {
  event.preventDefault();
  submitButton.disabled = true;
  stateEl.textContent = "Expanding the spec…";
  stateEl.dataset.state = "checking";
  try {
    const sweep = await post("/sweeps", { project_id: projectId, spec: editor.value });
    if (sweep.warnings?.length)
      sessionStorage.setItem(`${WARNINGS_KEY}:${sweep.id}`, JSON.stringify(sweep.warnings));
    location.assign(`/sweeps/${sweep.id}`);
  } catch (err) {
    submitButton.disabled = false;
    if (err.detail?.length) {
      showErrors(err.detail);
      errorsBox.scrollIntoView({ block: "nearest" });
    } else {
      stateEl.textContent = "";
      toast(`Not started: ${err.message}`, { kind: "error" });
    }
  }
}

document.getElementById("reset-example").addEventListener("click", () => {
  editor.value = example;
  showErrors([]);
});
form.addEventListener("submit", submit);
form.dataset.ready = "true";
