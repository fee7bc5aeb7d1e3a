// Validation messages next to form fields: a 422's `loc` names the field
// (["body", "job", "optimizer", "lr"] -> the element with data-path="job.optimizer.lr").

import { h } from "./dom.js";

export function clearFieldErrors(form) {
  for (const el of form.querySelectorAll("[data-path].invalid")) el.classList.remove("invalid");
  for (const el of form.querySelectorAll(".error")) {
    el.textContent = "";
    el.hidden = true;
  }
}

// The field (or fieldset) for a loc: the longest prefix of the path that exists in the form.
function fieldFor(form, loc) {
  const parts = loc.filter((p, i) => !(i === 0 && (p === "body" || p === "query")));
  for (let n = parts.length; n > 0; n--) {
    const el = form.querySelector(`[data-path="${CSS.escape(parts.slice(0, n).join("."))}"]`);
    if (el) return el;
  }
  return null;
}

// Shows each error at its field; returns those with no field (shown in `fallback`).
export function showFieldErrors(form, detail, fallback) {
  const unplaced = [];
  for (const err of detail) {
    const field = fieldFor(form, err.loc || []);
    const slot = field?.querySelector(":scope > .error");
    if (!slot) {
      unplaced.push(err);
      continue;
    }
    field.classList.add("invalid");
    slot.textContent = slot.textContent ? `${slot.textContent} ${err.msg}` : err.msg;
    slot.hidden = false;
  }
  if (fallback) {
    fallback.replaceChildren(
      ...unplaced.map((e) =>
        h(
          "div",
          { class: "callout error", role: "alert" },
          e.loc?.length ? `${e.loc.join(".")}: ${e.msg}` : e.msg,
        ),
      ),
    );
  }
  return unplaced;
}
