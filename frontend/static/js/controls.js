// The chart toolbar: x axis, smoothing, log y, reset zoom. Its state lives in the URL so a
// link opens the same view.

import { h, replace } from "./dom.js";

const X_MODES = [
  ["step", "Step"],
  ["wall", "Wall time"],
  ["relative", "Relative time"],
];
export const DEFAULT_SMOOTHING = 0.6;

export function chartState(params = new URLSearchParams(location.search)) {
  const smoothing = Number.parseFloat(params.get("smoothing"));
  const x = params.get("x");
  return {
    x: X_MODES.some(([m]) => m === x) ? x : "step",
    smoothing: Number.isFinite(smoothing) && smoothing >= 0 && smoothing < 1 ? smoothing : DEFAULT_SMOOTHING,
    logY: params.get("log") === "1",
  };
}

export function setUrlParams(values) {
  const url = new URL(location.href);
  for (const [key, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === "") url.searchParams.delete(key);
    else url.searchParams.set(key, value);
  }
  history.replaceState(null, "", url);
}

export function tzOffsetMinutes() {
  return -new Date().getTimezoneOffset();
}

// Renders into `container`; `on` = {x(mode), smoothing(weight), logY(on), reset()}.
export function renderControls(container, state, on) {
  const modeButtons = X_MODES.map(([mode, label]) =>
    h("button", { type: "button", class: state.x === mode ? "on" : "", dataset: { mode } }, label),
  );
  const segmented = h("div", { class: "segmented", role: "group", "aria-label": "x axis" }, modeButtons);
  segmented.addEventListener("click", (event) => {
    const mode = event.target.dataset?.mode;
    if (!mode || mode === state.x) return;
    state.x = mode;
    for (const b of modeButtons) b.classList.toggle("on", b.dataset.mode === mode);
    setUrlParams({ x: mode === "step" ? null : mode });
    on.x(mode);
  });
  const value = h("span", { class: "num", style: { width: "34px" } }, state.smoothing.toFixed(2));
  const slider = h("input", {
    type: "range",
    min: "0",
    max: "0.99",
    step: "0.01",
    value: String(state.smoothing),
    id: "smoothing",
    "aria-label": "Smoothing",
  });
  slider.addEventListener("input", () => {
    state.smoothing = Number(slider.value);
    value.textContent = state.smoothing.toFixed(2);
    setUrlParams({ smoothing: state.smoothing === DEFAULT_SMOOTHING ? null : state.smoothing });
    on.smoothing(state.smoothing);
  });
  const log = h("input", { type: "checkbox", id: "log-y", checked: state.logY });
  log.addEventListener("change", () => {
    state.logY = log.checked;
    setUrlParams({ log: state.logY ? "1" : null });
    on.logY(state.logY);
  });
  replace(
    container,
    h(
      "div",
      { class: "toolbar" },
      h("div", { class: "group" }, h("span", { class: "label" }, "X axis"), segmented),
      h(
        "div",
        { class: "group" },
        h("label", { class: "label", for: "smoothing" }, "Smoothing"),
        slider,
        value,
      ),
      h("label", { class: "check" }, log, "Log scale"),
      h("span", { style: { flex: "1" } }),
      h(
        "button",
        { class: "btn btn-sm", type: "button", id: "reset-zoom", onclick: () => on.reset() },
        "Reset zoom",
      ),
    ),
  );
}
