// The management pages (admin users and teams, a project's settings, the account's tokens):
// the server renders the tables; this sends their forms, buttons and role pickers to the
// JSON API, declared by data attributes:
//   data-api="/path/{field}" data-method="PUT"   where to send it ({field}: a form field's value)
//   data-body='{"user_id": 3}'                    fixed JSON sent with it
//   data-field="role" (a select)                  the select's value goes in the body under it
//   data-confirm="Revoke?"                        a second click within 4 s confirms
//   data-done="reload" | "secret" | "link"        after success: reload, or show the answer's
//     data-secret-field (or the link's path) in the data-box element until Done reloads
// Form fields: a checkbox is a boolean (data-type="list": the checked values, as a list);
// data-type="int" / "number" convert; an empty field is left out; data-key-from="holder"
// sends the field under the name the `holder` field's value gives.

import { api } from "../api.js";
import { toast } from "../ui.js";

function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    const type = el.dataset.type;
    if (el.type === "checkbox") {
      if (type === "list") {
        body[el.name] = body[el.name] || [];
        if (el.checked) body[el.name].push(el.value);
      } else body[el.name] = el.checked;
      continue;
    }
    if (el.value === "") continue;
    let value = el.value;
    if (type === "int") value = Number.parseInt(value, 10);
    else if (type === "number") value = Number(value);
    const key = el.dataset.keyFrom ? form.elements[el.dataset.keyFrom].value : el.name;
    body[key] = value;
  }
  for (const el of form.querySelectorAll("[data-key-from]")) delete body[el.dataset.keyFrom];
  return body;
}

// "/teams/3/members/{id}" with body {id: 7} -> "/teams/3/members/7" (and id leaves the body)
function fillPath(template, body) {
  return template.replace(/\{(\w+)\}/g, (_, name) => {
    const value = body[name];
    delete body[name];
    return encodeURIComponent(value);
  });
}

function showSecret(source, text) {
  const box = document.getElementById(source.dataset.box);
  box.querySelector("[data-secret]").textContent = text;
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function done(source, answer) {
  const how = source.dataset.done || "reload";
  if (how === "secret") showSecret(source, answer[source.dataset.secretField]);
  else if (how === "link") showSecret(source, `${location.origin}${answer.path}`);
  else location.reload();
}

async function send(source, body) {
  const fixed = source.dataset.body ? JSON.parse(source.dataset.body) : {};
  const all = { ...fixed, ...body };
  const path = fillPath(source.dataset.api, all);
  const method = source.dataset.method || "POST";
  return api(path, { method, body: Object.keys(all).length ? all : undefined });
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-api]");
  if (!form) return;
  event.preventDefault();
  const error = form.querySelector("[data-error]");
  const submit = form.querySelector("[type=submit]");
  if (error) error.textContent = "";
  submit.disabled = true;
  try {
    done(form, await send(form, formBody(form)));
    form.reset();
  } catch (err) {
    if (error) error.textContent = err.message;
    else toast(err.message, { kind: "error" });
  } finally {
    submit.disabled = false;
  }
});

const confirming = new WeakMap(); // button -> its timer, while it waits for the second click

document.addEventListener("click", async (event) => {
  if (event.target.closest("[data-reload]")) {
    location.reload();
    return;
  }
  const button = event.target.closest("button[data-api]");
  if (!button) return;
  const ask = button.dataset.confirm;
  if (ask && !confirming.has(button)) {
    button.dataset.label = button.textContent;
    button.textContent = ask;
    button.classList.add("confirming");
    confirming.set(
      button,
      setTimeout(() => {
        confirming.delete(button);
        button.textContent = button.dataset.label;
        button.classList.remove("confirming");
      }, 4000),
    );
    return;
  }
  clearTimeout(confirming.get(button));
  confirming.delete(button);
  button.disabled = true;
  try {
    done(button, await send(button, {}));
  } catch (err) {
    toast(err.message, { kind: "error" });
    button.disabled = false;
    if (ask) button.textContent = button.dataset.label;
    button.classList.remove("confirming");
  }
});

document.addEventListener("change", async (event) => {
  const select = event.target.closest("select[data-api]");
  if (!select) return;
  const before = [...select.options].find((o) => o.defaultSelected)?.value;
  select.disabled = true;
  try {
    done(select, await send(select, { [select.dataset.field]: select.value }));
  } catch (err) {
    toast(err.message, { kind: "error" });
    select.value = before; // the role it still holds
    select.disabled = false;
  }
});
