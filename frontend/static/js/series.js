// Series data on the client: parse the series the chart endpoints and /api/v1/series send,
// place points on the x axis, smooth them (traces.js turns them into Plotly traces), and
// decode the base64 typed arrays of server-built sweep figures.

const DTYPES = {
  f8: Float64Array,
  f4: Float32Array,
  i4: Int32Array,
  i2: Int16Array,
  i1: Int8Array,
  u4: Uint32Array,
  u2: Uint16Array,
  u1: Uint8Array,
  u1c: Uint8ClampedArray,
};

function isTypedSpec(v) {
  return v !== null && typeof v === "object" && typeof v.bdata === "string" && v.dtype in DTYPES;
}

function decodeSpec({ dtype, bdata }) {
  const binary = atob(bdata);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new DTYPES[dtype](bytes.buffer);
}

// Plotly's base64 typed-array specs (how the server's sweep figures send numpy arrays).
export function decodeFigure(figure) {
  for (const trace of figure.data) {
    for (const key of ["x", "y", "customdata"]) {
      if (isTypedSpec(trace[key])) trace[key] = decodeSpec(trace[key]);
    }
  }
  return figure;
}

const NONFINITE = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

export function parseValues(values) {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = typeof v === "string" ? (NONFINITE[v] ?? Number.NaN) : v === null ? Number.NaN : v;
  }
  return out;
}

// TensorBoard's debiased EMA, the one smoothing of metric curves (the server sends raw points):
// s_t = w s_{t-1} + (1 - w) v_t, divided by 1 - w^n (n finite points so far) so the curve does
// not start at zero. Non-finite points pass through and do not enter the average; a constant
// series comes back as is (no rounding drift).
export function debiasedEma(values, weight) {
  const out = Float64Array.from(values);
  if (weight <= 0 || values.length === 0) return out;
  const first = values[0];
  if (values.every((v) => v === first)) return out;
  let last = 0;
  let seen = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    last = last * weight + (1 - weight) * v;
    seen += 1;
    out[i] = last / (1 - weight ** seen);
  }
  return out;
}

// x coordinates on the axis layout.meta describes (the server's views/chart_data.py XAxis):
// steps, local epoch milliseconds, or time since the run's start in the axis' unit.
export function xValues(meta, runId, steps, walls) {
  const n = steps.length;
  const out = new Float64Array(n);
  if (meta.x_mode === "step") for (let i = 0; i < n; i++) out[i] = steps[i];
  else if (meta.x_mode === "wall") for (let i = 0; i < n; i++) out[i] = (walls[i] + meta.tz_offset_s) * 1000;
  else {
    const start = meta.starts[String(runId)] ?? 0;
    for (let i = 0; i < n; i++) out[i] = (walls[i] - start) / meta.x_unit_s;
  }
  return out;
}

// One series (an /api/v1/series item) as the x/y arrays of its raw and non-finite traces.
export function seriesArrays(meta, s) {
  const values = parseValues(s.values);
  const x = xValues(meta, s.run_id, s.steps, s.wall_time);
  const steps = Float64Array.from(s.steps);
  const finite = values.map((v) => (Number.isFinite(v) ? v : Number.NaN));
  const bad = [];
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) bad.push(i);
  const nonfinite = {
    x: bad.map((i) => x[i]),
    y: bad.map((i) => (values[i] > 0 ? 0.97 : 0.03)),
    customdata: bad.map((i) => steps[i]),
    text: bad.map((i) => (Number.isNaN(values[i]) ? "NaN" : values[i] > 0 ? "+Inf" : "-Inf")),
    symbol: bad.map((i) => (Number.isNaN(values[i]) ? "x" : values[i] > 0 ? "triangle-up" : "triangle-down")),
  };
  return { x, steps, finite, nonfinite };
}

// Date-axis range values (strings like "2024-05-01 12:00:00.5" or ms numbers) as numbers.
export function axisNumber(v, meta) {
  if (typeof v === "number") return v;
  if (meta.x_mode === "wall") return Date.parse(String(v).replace(" ", "T") + "Z");
  return Number(v);
}

// The step range a visible x range covers, from a trace's x and step arrays (time axes):
// the last point left of x0 to the first point right of x1.
export function stepsInRange(xs, steps, x0, x1) {
  const n = steps.length;
  if (!n) return [0, 0];
  let lo = steps[0];
  for (let i = 0; i < n && xs[i] <= x0; i++) lo = steps[i];
  let hi = steps[n - 1];
  for (let i = n - 1; i >= 0 && xs[i] >= x1; i--) hi = steps[i];
  return [lo, hi];
}

// x positions of steps on a time axis, interpolating a trace's (step, x) pairs.
export function stepToX(xs, steps, step) {
  const n = steps.length;
  if (!n) return step;
  if (step <= steps[0]) return xs[0];
  for (let i = 1; i < n; i++) {
    if (steps[i] >= step) {
      const t = (step - steps[i - 1]) / (steps[i] - steps[i - 1] || 1);
      return xs[i - 1] + t * (xs[i] - xs[i - 1]);
    }
  }
  return xs[n - 1];
}
