// Formatting of numbers, durations and dates for tables and tiles.

const NONFINITE = { NaN: "NaN", Infinity: "+Inf", "-Infinity": "−Inf" };

export function fmtValue(v, digits = 4) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "string") return NONFINITE[v] ?? v;
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "−Inf";
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toString();
}

export function isNonFinite(v) {
  return typeof v === "string" && v in NONFINITE;
}

export function fmtInt(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

// A file size: 512 B, 1.5 KB, 12 KB, 3.4 MB (units of 1024).
export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

export function fmtAgo(iso) {
  if (!iso) return "—";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  if (seconds < 86400 * 30) return `${Math.round(seconds / 86400)} d ago`;
  return new Date(iso).toLocaleDateString();
}

export function fmtDateTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

// Sort key of a loss value: NaN/Inf after every number.
export function lossKey(v) {
  if (v === null || v === undefined) return Number.POSITIVE_INFINITY;
  return typeof v === "string" ? Number.MAX_VALUE : v;
}
