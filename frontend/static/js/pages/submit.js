// Submit a job: a form built from GET /api/v1/jobs/schema, checked against the server as
// you type (POST /api/v1/jobs/check: field messages and the Lion-lr warning), then queued.

import { get, post } from "../api.js";
import { h, replace } from "../dom.js";
import { clearFieldErrors, showFieldErrors } from "../field_errors.js";
import { applyOptimizer, applyTask, jobFieldsets, optimizerDefaults, runFieldset } from "../job_form.js";
import { readField, readFields, writeField, writeFields } from "../schema_form.js";
import { errorState, toast } from "../ui.js";

const projectId = Number(document.body.dataset.projectId);
const form = document.getElementById("job-form");
const messages = document.getElementById("form-messages");
const stateEl = document.getElementById("check-state");
const submitButton = document.getElementById("submit-job");
const CHECK_DELAY_MS = 300;
let defaults = {};
let checkSeq = 0;
let timer = null;
let warnings = [];

const field = (path) => form.querySelector(`.field[data-path="${path}"]`);

function body() {
  const name = readField(field("name"));
  const tags = (readField(field("tags")) || "")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  return { project_id: projectId, ...(name ? { name } : {}), tags, job: readFields(form, "job") };
}

function showResult(errors, newWarnings) {
  warnings = newWarnings;
  clearFieldErrors(form);
  const errorsBox = h("div", {
    id: "form-errors",
    class: "stack",
    style: { gap: "8px", marginBottom: "12px" },
  });
  showFieldErrors(form, errors, errorsBox);
  const warningBox = warnings.length
    ? h(
        "div",
        { class: "callout warning", id: "job-warnings", role: "status", style: { marginBottom: "12px" } },
        h("b", {}, "Check the learning rate. "),
        warnings.join(" "),
      )
    : null;
  replace(messages, errorsBox.childElementCount ? errorsBox : null, warningBox);
  const problems = errors.length;
  stateEl.textContent = problems
    ? `${problems} problem${problems === 1 ? "" : "s"} to fix`
    : warnings.length
      ? "Valid, with a warning"
      : "Valid";
  stateEl.dataset.state = problems ? "invalid" : "valid";
}

async function check() {
  const seq = ++checkSeq;
  stateEl.textContent = "Checking…";
  stateEl.dataset.state = "checking";
  try {
    const answer = await post("/jobs/check", body());
    if (seq === checkSeq) showResult([], answer.warnings);
  } catch (err) {
    if (seq !== checkSeq) return;
    if (err.detail?.length) showResult(err.detail, []);
    else stateEl.textContent = err.message;
  }
}

function scheduleCheck() {
  clearTimeout(timer);
  timer = setTimeout(check, CHECK_DELAY_MS);
}

function onChange(event) {
  const path = event.target.closest(".field")?.dataset.path;
  if (path === "job.optimizer.name") applyOptimizer(form, defaults, event.target.value);
  if (path === "job.task") applyTask(form);
  scheduleCheck();
}

async function submit(event) {
  event.preventDefault();
  clearTimeout(timer);
  submitButton.disabled = true;
  try {
    const run = await post("/runs", body());
    location.assign(`/runs/${run.id}`);
  } catch (err) {
    submitButton.disabled = false;
    if (!err.detail?.length) return toast(`Not submitted: ${err.message}`, { kind: "error" });
    showResult(err.detail, warnings);
    form.querySelector(".invalid input, .invalid select")?.focus();
  }
}

async function prefill(runId) {
  const run = await get(`/runs/${runId}`);
  const job = run.job || {};
  writeField(field("job.optimizer.name"), job.optimizer?.name || "lion");
  applyOptimizer(form, defaults, job.optimizer?.name || "lion", { fill: false });
  writeFields(form, "job", job);
  writeField(field("tags"), run.tags.join(", "));
  field("name").querySelector("input").placeholder = `${run.name}-2`;
  applyTask(form);
}

async function start() {
  let schema;
  try {
    schema = await get("/jobs/schema");
  } catch (err) {
    return replace(
      document.getElementById("form-fields"),
      errorState(err.message, () => location.reload()),
    );
  }
  defaults = optimizerDefaults(schema);
  replace(document.getElementById("form-fields"), runFieldset(), ...jobFieldsets(schema));
  applyOptimizer(form, defaults, readField(field("job.optimizer.name")));
  applyTask(form);
  const from = new URLSearchParams(location.search).get("from");
  if (from)
    await prefill(from).catch((err) =>
      toast(`Could not copy run ${from}: ${err.message}`, { kind: "error" }),
    );
  form.addEventListener("input", scheduleCheck);
  form.addEventListener("change", onChange);
  form.addEventListener("submit", submit);
  form.dataset.ready = "true";
  check();
}

start();
