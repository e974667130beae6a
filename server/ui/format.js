// format.js - numbers, units and times as people read them.
//
// Values in a flame graph are in the profile type's sample unit (the third
// part of the id, e.g. process_cpu:cpu:nanoseconds:cpu:nanoseconds), so the
// unit comes from the id, not from render's metadata.units, which reports
// "samples" for CPU even though the numbers are nanoseconds.

/** Sample unit of a profile type id: "nanoseconds", "bytes", "count", ... */
export function unitOf(typeId) {
  const parts = String(typeId || '').split(':');
  return parts.length >= 3 ? parts[2] : '';
}

const TIME_STEPS = [
  [3600e9, 'h'], [60e9, 'min'], [1e9, 's'], [1e6, 'ms'], [1e3, 'µs'],
];
const BYTE_STEPS = [
  [1024 ** 4, 'TB'], [1024 ** 3, 'GB'], [1024 ** 2, 'MB'], [1024, 'KB'],
];
const COUNT_STEPS = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];

// Three significant digits are enough to compare frames and keep tooltips
// and table cells narrow.
function scaled(v, steps, base) {
  const a = Math.abs(v);
  for (const [div, suffix] of steps) {
    if (a >= div) return `${sig3(v / div)} ${suffix}`;
  }
  return base(v);
}

function sig3(x) {
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** "1.23 s", "45.6 MB", "12.3 k" for a value in the given sample unit. */
export function formatValue(v, unit) {
  if (!Number.isFinite(v)) return '–';
  switch (unit) {
    case 'nanoseconds':
      return scaled(v, TIME_STEPS, (x) => `${Math.round(x)} ns`);
    case 'microseconds':
      return formatValue(v * 1e3, 'nanoseconds');
    case 'milliseconds':
      return formatValue(v * 1e6, 'nanoseconds');
    case 'seconds':
      return formatValue(v * 1e9, 'nanoseconds');
    case 'bytes':
      return scaled(v, BYTE_STEPS, (x) => `${Math.round(x)} B`);
    default:
      return scaled(v, COUNT_STEPS, (x) => Math.round(x).toLocaleString('en-US'));
  }
}

/** Exact count with thousands separators (tooltips show both forms). */
export function formatExact(v) {
  return Math.round(v).toLocaleString('en-US');
}

/** part/whole as "12.34%" (empty whole: "0%"). */
export function pct(part, whole) {
  if (!whole) return '0%';
  const p = (100 * part) / whole;
  if (p !== 0 && Math.abs(p) < 0.01) return p > 0 ? '<0.01%' : '>-0.01%';
  return `${p.toFixed(2)}%`;
}

/** A signed relative change: "+12.3%", "-4.0%", "new", "removed". */
export function formatChange(ratio) {
  if (ratio === Infinity) return 'new';
  if (ratio === -1) return 'removed';
  if (!Number.isFinite(ratio)) return '–';
  const p = ratio * 100;
  return `${p >= 0 ? '+' : ''}${p.toFixed(Math.abs(p) >= 100 ? 0 : 1)}%`;
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

/** Local time for an axis tick; the span decides how much to show. */
export function formatTick(epochSec, spanSec) {
  const d = new Date(epochSec * 1000);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  if (spanSec <= 120) return `${hm}:${pad2(d.getSeconds())}`;
  if (spanSec <= 2 * 86400) return hm;
  return `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${hm}`;
}

/** "2024-05-01 13:45:10" in local time (inputs and tooltips). */
export function formatDateTime(epochSec) {
  const d = new Date(epochSec * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
