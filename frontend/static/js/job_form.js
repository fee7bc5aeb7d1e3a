// The job spec form's layout: JobSpec fields grouped in fieldsets, per-optimizer defaults,
// and task-dependent fields.

import { h } from "./dom.js";
import { fieldFor, resolve, writeField } from "./schema_form.js";

const GROUPS = [
  ["Task", ["task", "entrypoint", "model_size"]],
  ["Optimizer", ["optimizer"]],
  ["Training", ["steps", "batch_size", "grad_clip", "eval_interval", "seed"]],
  ["Learning-rate schedule", ["schedule"]],
  ["Runtime", ["precision", "device", "checkpoint_interval", "stop_on_divergence", "layer_stats_every"]],
];

// Labels that read better than pydantic's titles ("Lr", "Eps").
const LABELS = {
  lr: "Learning rate",
  betas: "Betas (β1, β2)",
  eps: "Epsilon",
  grad_clip: "Gradient clipping",
  min_lr_ratio: "Final lr ratio",
  name: "Optimizer",
};

function labelled(name, prop) {
  const text = name.replaceAll("_", " ");
  return { ...prop, title: LABELS[name] || text.charAt(0).toUpperCase() + text.slice(1) };
}

function fieldsOf(prefix, names, schema) {
  const defs = schema.$defs || {};
  const out = [];
  for (const name of names) {
    const prop = resolve(schema.properties[name], defs);
    if (prop.type === "object") {
      for (const [sub, subProp] of Object.entries(prop.properties)) {
        if (resolve(subProp, defs).type === "object") continue; // free-form maps (lr_scale): API only
        out.push(fieldFor(`${prefix}.${name}.${sub}`, sub, labelled(sub, resolve(subProp, defs))));
      }
    } else out.push(fieldFor(`${prefix}.${name}`, name, labelled(name, prop)));
  }
  return out;
}

function fieldset(title, path, fields) {
  return h(
    "fieldset",
    { dataset: path ? { path } : {} },
    h("legend", {}, title),
    h("div", { class: "fieldset-error error", hidden: true }),
    h("div", { class: "fields" }, fields),
  );
}

// Fieldsets for every JobSpec property (any the layout does not name go to "More").
export function jobFieldsets(schema) {
  const named = new Set(GROUPS.flatMap(([, names]) => names));
  const rest = Object.keys(schema.properties).filter((n) => !named.has(n));
  const groups = rest.length ? [...GROUPS, ["More", rest]] : GROUPS;
  return groups.map(([title, names]) => {
    const isObject =
      names.length === 1 && resolve(schema.properties[names[0]], schema.$defs || {}).type === "object";
    return fieldset(
      title,
      isObject ? `job.${names[0]}` : null,
      fieldsOf(
        "job",
        names.filter((n) => n in schema.properties),
        schema,
      ),
    );
  });
}

export function runFieldset() {
  const name = fieldFor("name", "name", {
    title: "Run name",
    type: "string",
    examples: ["lion-lr3e-4"],
    description: "Optional; default run-<id>.",
  });
  const tags = fieldFor("tags", "tags", {
    title: "Tags",
    type: "string",
    examples: ["baseline, seed0"],
    description: "Comma-separated.",
  });
  return fieldset("Run", null, [name, tags]);
}

export function optimizerDefaults(schema) {
  const spec = schema.$defs?.OptimizerSpec || {};
  return spec["x-optimizer-defaults"] || {};
}

// Show only the hyper-parameters the chosen optimizer takes, filled with its defaults.
export function applyOptimizer(form, defaults, name, { fill = true } = {}) {
  const own = defaults[name];
  if (!own) return;
  for (const field of form.querySelectorAll('.field[data-path^="job.optimizer."]')) {
    const key = field.dataset.path.split(".").pop();
    if (key === "name") continue;
    field.hidden = !(key in own);
    if (fill && key in own) writeField(field, own[key]);
  }
}

export function applyTask(form) {
  const task = form.querySelector('.field[data-path="job.task"] select')?.value;
  const entry = form.querySelector('.field[data-path="job.entrypoint"]');
  if (entry) entry.hidden = task !== "user";
}
