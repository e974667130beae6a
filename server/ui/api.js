// api.js - talks to pyrited's Pyroscope-compatible query API.
//
// Only same-origin endpoints are used (the page's CSP allows nothing else):
//   GET  /pyroscope/label-values?label=...        profile types, apps
//   GET  /pyroscope/render?query&from&until        flame graph + timeline
//   GET  /pyroscope/render-diff?leftQuery&...      diff flame graph
//   POST /querier.v1.QuerierService/LabelNames|LabelValues   (JSON Connect)
// The Connect calls are optional: when they fail the filter editor still
// accepts free text.

let tenant = '';

/** X-Scope-OrgID to send (multi-tenant servers); '' sends none. */
export function setTenant(t) {
  tenant = t || '';
}

function headers(extra) {
  const h = Object.assign({ Accept: 'application/json' }, extra || {});
  if (tenant) h['X-Scope-OrgID'] = tenant;
  return h;
}

/** An Error carrying the server's {"code","message"} when it sent one. */
async function failure(resp) {
  let msg = `${resp.status} ${resp.statusText}`;
  try {
    const body = await resp.json();
    if (body && typeof body.message === 'string') msg = `${resp.status}: ${body.message}`;
  } catch (_) {
    // Not JSON: the status line is all we have.
  }
  const e = new Error(msg);
  e.status = resp.status;
  return e;
}

async function getJSON(path, params, signal) {
  const qs = new URLSearchParams(params).toString();
  const resp = await fetch(qs ? `${path}?${qs}` : path, {
    headers: headers(), signal, credentials: 'same-origin',
  });
  if (!resp.ok) throw await failure(resp);
  return resp.json();
}

async function connect(method, body, signal) {
  const resp = await fetch(`/querier.v1.QuerierService/${method}`, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify(body),
    signal,
    credentials: 'same-origin',
  });
  if (!resp.ok) throw await failure(resp);
  return resp.json();
}

/** Sorted values of a label (label=__name__ gives profile type ids). */
export async function labelValues(label, signal) {
  const v = await getJSON('/pyroscope/label-values', { label }, signal);
  return Array.isArray(v) ? v.filter((s) => typeof s === 'string') : [];
}

/** Label names of the series matching a selector (Connect LabelNames). */
export async function labelNames(selector, startMs, endMs, signal) {
  const r = await connect('LabelNames', { matchers: [selector], start: startMs, end: endMs }, signal);
  return Array.isArray(r.names) ? r.names : [];
}

/** Values of one label among the series matching a selector. */
export async function labelValuesFor(name, selector, startMs, endMs, signal) {
  const r = await connect('LabelValues', { name, matchers: [selector], start: startMs, end: endMs }, signal);
  return Array.isArray(r.names) ? r.names : [];
}

/** Profile type ids that have data for a selector (Connect Series). */
export async function profileTypesFor(selector, startMs, endMs, signal) {
  const r = await connect('Series', {
    matchers: [selector], labelNames: ['__profile_type__'], start: startMs, end: endMs,
  }, signal);
  const out = new Set();
  for (const ls of r.labelsSet || []) {
    for (const l of ls.labels || []) {
      if (l.name === '__profile_type__') out.add(l.value);
    }
  }
  return [...out].sort();
}

export function render(query, from, until, maxNodes, signal) {
  const p = { query, from, until, format: 'json' };
  if (maxNodes) p['max-nodes'] = String(maxNodes);
  return getJSON('/pyroscope/render', p, signal);
}

export function renderDiff(leftQuery, leftFrom, leftUntil, rightQuery, rightFrom, rightUntil,
  maxNodes, signal) {
  const p = { leftQuery, leftFrom, leftUntil, rightQuery, rightFrom, rightUntil };
  if (maxNodes) p['max-nodes'] = String(maxNodes);
  return getJSON('/pyroscope/render-diff', p, signal);
}

// ---- label selectors -----------------------------------------------------

const OPS = ['=~', '!~', '!=', '='];
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** A Prometheus double-quoted string: only \ " and newlines need escapes. */
export function quote(s) {
  return `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function unquote(s) {
  if (s.length < 2 || s[0] !== '"' || s[s.length - 1] !== '"') return null;
  let out = '';
  for (let i = 1; i < s.length - 1; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length - 1) {
      const n = s[++i];
      out += n === 'n' ? '\n' : n === 't' ? '\t' : n;
    } else if (c === '"') {
      return null;
    } else {
      out += c;
    }
  }
  return out;
}

/** One matcher as text, e.g. env="prod" or region=~"eu-.*". */
export function matcherText(m) {
  return `${m.name}${m.op}${quote(m.value)}`;
}

/** Parses `name op "value"`; null when it is not one valid matcher. */
export function parseMatcher(text) {
  const s = String(text || '').trim();
  for (let i = 0; i < s.length; i++) {
    for (const op of OPS) {
      if (s.startsWith(op, i)) {
        const name = s.slice(0, i).trim();
        const value = unquote(s.slice(i + op.length).trim());
        if (!NAME_RE.test(name) || value === null) return null;
        return { name, op, value };
      }
    }
  }
  return null;
}

export function validLabelName(name) {
  return NAME_RE.test(name);
}

/** {service_name="app", ...filters} */
export function selector(app, filters) {
  const parts = [];
  if (app) parts.push(matcherText({ name: 'service_name', op: '=', value: app }));
  for (const f of filters || []) parts.push(matcherText(f));
  return `{${parts.join(', ')}}`;
}

// ---- time syntax (mirror of the server's, pyroscope-api.md §6.4) ----------

const UNIT_S = [
  ['mon', 2592000], ['min', 60], ['s', 1], ['m', 60], ['h', 3600],
  ['d', 86400], ['w', 604800], ['M', 2592000], ['y', 31536000],
];

/**
 * Epoch seconds for a time as the API takes it ("now-1h", "1700000000",
 * "1700000000000", "20240501") or as a person types it in a date field
 * ("2024-05-01 13:45" local, ISO with zone).  NaN when it is neither.
 */
export function resolveTime(text, nowSec) {
  const raw = String(text == null ? '' : text).trim();
  if (/^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(raw)) {
    const iso = raw.replace(' ', 'T');
    const ms = Date.parse(/T/.test(iso) ? iso : `${iso}T00:00`);
    return Number.isFinite(ms) ? Math.floor(ms / 1000) : NaN;
  }
  const s = raw.replace(/[\s_,]/g, '');
  if (s === '') return NaN;
  if (/^\d+$/.test(s)) {
    if (s.length === 8) {
      const y = +s.slice(0, 4), mo = +s.slice(4, 6), d = +s.slice(6, 8);
      if (mo >= 1 && mo <= 12 && d >= 1 && d <= 31) return Date.UTC(y, mo - 1, d) / 1000;
    }
    const n = Number(s);
    if (s.length === 13) return Math.floor(n / 1e3);
    if (s.length === 16) return Math.floor(n / 1e6);
    if (s.length === 19) return Math.floor(n / 1e9);
    return n;
  }
  const now = nowSec == null ? Date.now() / 1000 : nowSec;
  const m = /^[a-z]*([+-])?(.*)$/i.exec(s);
  if (!m || (!m[1] && m[2] !== '')) return NaN;
  if (!m[1]) return Math.floor(now);
  let off = 0;
  const re = /(\d+)([a-zA-Z]+)/gy;
  let g;
  let used = 0;
  while ((g = re.exec(m[2])) !== null) {
    const unit = UNIT_S.find(([u]) => g[2].startsWith(u));
    if (!unit) return NaN;
    off += Number(g[1]) * unit[1];
    used = re.lastIndex;
  }
  if (used !== m[2].length) return NaN;
  return Math.floor(m[1] === '-' ? now - off : now + off);
}

/**
 * What to send to the server for a user's time text: the API syntax as
 * typed (so "now-1h" stays relative when shared), dates as epoch seconds.
 */
export function apiTime(text) {
  const raw = String(text || '').trim();
  if (/^\d{4}-\d{2}-\d{2}/.test(raw)) {
    const t = resolveTime(raw);
    return Number.isFinite(t) ? String(t) : raw;
  }
  return raw;
}
