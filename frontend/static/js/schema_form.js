// Form fields generated from a JSON schema (pydantic's): enums become selects, numbers text
// inputs (the server's 422 explains a bad value), tuples pairs of inputs, nested objects
// fieldsets. Every field carries data-path so validation messages land next to it.

import { h } from "./dom.js";

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

// Up to the first full stop that ends a sentence ("et al. 2023" does not).
function firstSentence(text = "") {
  const end = text.search(/\.(\s+(?=[A-Z(])|$)/);
  return end < 0 ? text : text.slice(0, end + 1);
}

export function resolve(prop, defs) {
  if (prop.$ref) return { ...defs[prop.$ref.split("/").pop()], description: prop.description };
  const nonNull = (prop.anyOf || []).filter((p) => p.type !== "null");
  if (prop.anyOf && nonNull.length === 1) return { ...prop, ...nonNull[0], nullable: true };
  return prop;
}

function textInput(id, value, placeholder) {
  return h("input", {
    type: "text",
    id,
    autocomplete: "off",
    spellcheck: "false",
    value: value ?? "",
    placeholder: placeholder ?? "",
  });
}

function control(id, prop) {
  if (prop.enum)
    return h(
      "select",
      { id },
      prop.enum.map((v) => h("option", { value: v, selected: v === prop.default }, v)),
    );
  if (prop.type === "boolean") return h("input", { type: "checkbox", id, checked: Boolean(prop.default) });
  if (prop.type === "array" && prop.prefixItems) {
    const values = prop.default || [];
    return h(
      "div",
      { class: "pair" },
      prop.prefixItems.map((_, i) => textInput(i === 0 ? id : `${id}-${i}`, values[i], "")),
    );
  }
  const placeholder = prop.nullable ? "none" : prop.examples?.[0];
  return textInput(id, prop.default, placeholder);
}

export function fieldFor(path, name, prop) {
  const id = `f-${path.replaceAll(".", "-")}`;
  const input = control(id, prop);
  const label = prop.title || name;
  const help = firstSentence(prop.description) + (prop.nullable ? " Leave empty for none." : "");
  const field = h("div", { class: "field", dataset: { path, kind: kindOf(prop) } });
  if (prop.type === "boolean")
    field.append(h("label", { class: "check", title: prop.description || "" }, input, label));
  else field.append(h("label", { for: id, title: prop.description || "" }, label), input);
  field.append(h("div", { class: "help" }, help), h("div", { class: "error", hidden: true }));
  return field;
}

function kindOf(prop) {
  if (prop.enum) return "enum";
  if (prop.type === "array") return "tuple";
  if (prop.type === "boolean") return "boolean";
  if (prop.type === "integer" || prop.type === "number") return prop.nullable ? "number?" : "number";
  return prop.nullable ? "string?" : "string";
}

function parse(text) {
  const t = text.trim();
  return NUMBER.test(t) ? Number(t) : t;
}

// The value of one field, or undefined to leave it out (the server applies its default).
export function readField(field) {
  const kind = field.dataset.kind;
  const inputs = [...field.querySelectorAll("input, select")];
  if (kind === "boolean") return inputs[0].checked;
  if (kind === "enum") return inputs[0].value;
  if (kind === "tuple") {
    const texts = inputs.map((i) => i.value.trim());
    return texts.every((t) => t === "") ? undefined : texts.map(parse);
  }
  const text = inputs[0].value.trim();
  if (text === "") return kind.endsWith("?") ? null : undefined;
  return kind.startsWith("number") ? parse(text) : text;
}

export function writeField(field, value) {
  const kind = field.dataset.kind;
  const inputs = [...field.querySelectorAll("input, select")];
  if (kind === "boolean") inputs[0].checked = Boolean(value);
  else if (kind === "tuple") inputs.forEach((input, i) => (input.value = value?.[i] ?? ""));
  else inputs[0].value = value ?? "";
}

// Reads every visible field under `root` into a nested object keyed by data-path.
export function readFields(root, prefix) {
  const out = {};
  for (const field of root.querySelectorAll(".field[data-path]")) {
    if (field.hidden || !field.dataset.path.startsWith(`${prefix}.`)) continue;
    const value = readField(field);
    if (value === undefined) continue;
    const parts = field.dataset.path.slice(prefix.length + 1).split(".");
    let node = out;
    for (const p of parts.slice(0, -1)) node = node[p] ??= {};
    node[parts.at(-1)] = value;
  }
  return out;
}

// Writes a nested object into the fields under `prefix` (e.g. a run's job spec).
export function writeFields(root, prefix, values) {
  for (const [key, value] of Object.entries(values || {})) {
    const path = `${prefix}.${key}`;
    const field = root.querySelector(`.field[data-path="${CSS.escape(path)}"]`);
    if (field) writeField(field, value);
    else if (value && typeof value === "object" && !Array.isArray(value)) writeFields(root, path, value);
  }
}
