// Projects: the list with run counts, and (admin tokens) a form to create one.

import { ApiError, get, post } from "../api.js";
import { h, replace } from "../dom.js";
import { clearFieldErrors, showFieldErrors } from "../field_errors.js";
import { fmtAgo, fmtInt } from "../format.js";
import { emptyState, errorState } from "../ui.js";

const box = document.getElementById("projects");
const isAdmin = box.dataset.admin === "true";
const form = document.getElementById("new-project");

async function counts(project) {
  const [all, running] = await Promise.all([
    get("/runs", { project_id: project.id, limit: 1 }),
    get("/runs", { project_id: project.id, status: "running", limit: 1 }),
  ]);
  return { runs: all.total, running: running.total, latest: all.items[0]?.created_at };
}

function row(project, c) {
  return h(
    "tr",
    { dataset: { project: project.id } },
    h(
      "td",
      {},
      h("a", { class: "run-name", href: `/projects/${project.id}/overview` }, project.name),
      project.description ? h("div", { class: "cell-sub" }, project.description) : null,
    ),
    h("td", { class: "right num" }, fmtInt(c.runs)),
    h(
      "td",
      { class: "right num" },
      c.running
        ? h("span", { class: "badge status-running" }, h("span", { class: "dot" }), `${c.running} running`)
        : h("span", { class: "faint" }, "—"),
    ),
    h("td", { class: "muted" }, c.latest ? fmtAgo(c.latest) : "no runs"),
    h("td", { class: "muted" }, fmtAgo(project.created_at)),
  );
}

function empty() {
  const action = isAdmin
    ? h("button", { class: "btn btn-primary", type: "button", onclick: openForm }, "Create a project")
    : null;
  return emptyState(
    "No projects yet",
    "A project groups the runs you compare: create one, then submit jobs or log runs from your scripts.",
    action,
  );
}

async function load() {
  try {
    const page = await get("/projects", { limit: 500 });
    if (!page.items.length) return replace(box, empty());
    const stats = await Promise.all(page.items.map(counts));
    const head = h(
      "tr",
      {},
      h("th", {}, "Project"),
      h("th", { class: "right" }, "Runs"),
      h("th", { class: "right" }, "Active"),
      h("th", {}, "Last run"),
      h("th", {}, "Created"),
    );
    replace(
      box,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data" },
          h("thead", {}, head),
          h(
            "tbody",
            {},
            page.items.map((p, i) => row(p, stats[i])),
          ),
        ),
      ),
    );
  } catch (err) {
    replace(box, errorState(err.message, load));
  }
}

function openForm() {
  form.hidden = false;
  form.querySelector("#project-name").focus();
}

async function create(event) {
  event.preventDefault();
  clearFieldErrors(form);
  const body = { name: form.elements.name.value.trim(), description: form.elements.description.value.trim() };
  try {
    const project = await post("/projects", body);
    location.assign(`/projects/${project.id}`);
  } catch (err) {
    const detail =
      err instanceof ApiError && err.detail.length
        ? err.detail
        : [{ loc: ["body", "name"], msg: err.message }];
    showFieldErrors(
      form,
      detail.map((d) => ({ ...d, loc: d.loc.length > 1 ? d.loc : ["body", "name"] })),
    );
  }
}

if (form) {
  document.getElementById("new-project-toggle").addEventListener("click", openForm);
  document.getElementById("new-project-cancel").addEventListener("click", () => {
    form.hidden = true;
  });
  form.addEventListener("submit", create);
}
load();
