// app.js - the page controller: state, URL, controls, loading.
//
// The whole view lives in one state object mirrored in the query string,
// so a link reproduces what its sender saw (app, type, filters, ranges,
// mode, zoom, search, sort, layout).  Query changes push a history entry
// (Back undoes them); zoom/search/sort only replace the current one.
//
// window.__pyrite is a read-mostly hook for the browser test
// (tests/integration/test_ui_browser.py): load status, what the flame
// graph drew, and the current state.  It grants nothing the page itself
// could not do.

import * as api from './api.js';
import { FlameView } from './flame.js';
import { decode, functionTable, resolvePath } from './flamemodel.js';
import { formatDateTime, formatValue, unitOf } from './format.js';
import { TopTable } from './table.js';
import { Timeline } from './timeline.js';

const $ = (id) => document.getElementById(id);

const DEFAULTS = {
  app: '',
  type: '',
  filters: [],
  from: 'now-1h',
  until: 'now',
  mode: 'single',
  leftFrom: '',
  leftUntil: '',
  rightFrom: '',
  rightUntil: '',
  search: '',
  regex: false,
  zoom: [],
  view: 'icicle',
  layout: 'both',
  sort: '',
  maxNodes: 0,
  tenant: '',
};
const PREFERRED_TYPE = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';

const S = structuredClone(DEFAULTS);
let apps = [];
let types = [];
let model = null;
let inflight = null;

const hook = {
  status: 'init', // init | loading | ready | error
  loads: 0,
  error: '',
  get state() {
    return structuredClone(S);
  },
  get drawn() {
    return flame.drawn.map((f) => Object.assign({}, f));
  },
  get tableRows() {
    return [...document.querySelectorAll('#top tbody tr')].map((tr) => tr.dataset.name);
  },
  merged: () => flame.merged,
  timeline: () => (timeline.data ? structuredClone(timeline.data) : null),
  // Milliseconds for one full redraw of the flame graph (reported, never
  // asserted: machines here are noisy).
  timeDraw: () => {
    const t = performance.now();
    flame.draw();
    return performance.now() - t;
  },
  timings: {},
  nodes: () => (model ? model.levels.reduce((n, L) => n + L.n, 0) : 0),
};
window.__pyrite = hook;

// ---- URL <-> state ---------------------------------------------------------

function readURL() {
  const q = new URLSearchParams(location.search);
  Object.assign(S, structuredClone(DEFAULTS));
  const str = (k) => (q.has(k) ? q.get(k) : undefined);
  for (const k of ['app', 'type', 'from', 'until', 'leftFrom', 'leftUntil', 'rightFrom',
    'rightUntil', 'search', 'sort', 'tenant']) {
    const v = str(k);
    if (v !== undefined) S[k] = v;
  }
  S.mode = q.get('mode') === 'diff' ? 'diff' : 'single';
  S.regex = q.get('regex') === '1';
  S.view = q.get('view') === 'flame' ? 'flame' : 'icicle';
  S.layout = ['table', 'flame'].includes(q.get('layout')) ? q.get('layout') : 'both';
  S.maxNodes = Math.max(0, parseInt(q.get('maxNodes') || '0', 10) || 0);
  S.filters = q.getAll('f').map(api.parseMatcher).filter(Boolean);
  S.zoom = q.has('zoom') && q.get('zoom') !== '' ? q.get('zoom').split(';') : [];
}

function writeURL(push) {
  const q = new URLSearchParams();
  const put = (k, v) => {
    if (v !== undefined && v !== '' && v !== DEFAULTS[k]) q.set(k, v);
  };
  put('app', S.app);
  put('type', S.type);
  for (const f of S.filters) q.append('f', api.matcherText(f));
  put('from', S.from);
  put('until', S.until);
  put('mode', S.mode);
  if (S.mode === 'diff') {
    put('leftFrom', S.leftFrom);
    put('leftUntil', S.leftUntil);
    put('rightFrom', S.rightFrom);
    put('rightUntil', S.rightUntil);
  }
  put('search', S.search);
  if (S.regex) q.set('regex', '1');
  if (S.zoom.length) q.set('zoom', S.zoom.join(';'));
  put('view', S.view);
  put('layout', S.layout);
  put('sort', S.sort);
  if (S.maxNodes) q.set('maxNodes', String(S.maxNodes));
  put('tenant', S.tenant);
  const url = `${location.pathname}${q.toString() ? `?${q}` : ''}`;
  if (url === `${location.pathname}${location.search}`) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

// ---- widgets ----------------------------------------------------------------

const flame = new FlameView($('flame'), $('tooltip'), {
  onZoom: () => {
    S.zoom = flame.zoomPath();
    updateCrumbs();
    writeURL(false);
  },
});
const table = new TopTable($('top'), $('table-note'), {
  onPick: (name) => {
    S.search = name;
    S.regex = false;
    $('search').value = name;
    $('regex').checked = false;
    applySearch();
    writeURL(false);
  },
  onSort: (spec) => {
    S.sort = spec;
    writeURL(false);
  },
});
const timeline = new Timeline($('timeline'), {
  onSelect: (a, b) => {
    if (S.mode === 'diff') {
      const side = document.querySelector('input[name=brush]:checked');
      if (side && side.value === 'right') {
        S.rightFrom = String(a);
        S.rightUntil = String(b);
      } else {
        S.leftFrom = String(a);
        S.leftUntil = String(b);
      }
    } else {
      S.from = String(a);
      S.until = String(b);
    }
    S.zoom = [];
    syncControls();
    writeURL(true);
    load();
  },
});

function setStatus(text, isError) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', !!isError);
}

function option(value, label) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = label;
  return o;
}

function typeLabel(id) {
  const p = id.split(':');
  if (p.length < 5) return id;
  return `${p[0]} · ${p[1]} (${p[2] || 'count'})`;
}

/** Text for a time input: epoch seconds read better as a local date. */
function showTime(v) {
  return /^\d{9,10}$/.test(String(v)) ? formatDateTime(Number(v)) : String(v);
}

function syncControls() {
  const appSel = $('app');
  appSel.replaceChildren(...apps.map((a) => option(a, a)));
  if (S.app && !apps.includes(S.app)) appSel.appendChild(option(S.app, `${S.app} (no data)`));
  appSel.value = S.app;

  const typeSel = $('ptype');
  typeSel.replaceChildren(...types.map((t) => option(t, typeLabel(t))));
  if (S.type && !types.includes(S.type)) typeSel.appendChild(option(S.type, typeLabel(S.type)));
  typeSel.value = S.type;

  for (const b of document.querySelectorAll('[data-mode]')) {
    b.setAttribute('aria-pressed', String(b.dataset.mode === S.mode));
  }
  const preset = S.until === 'now' && [...$('range').options].some((o) => o.value === S.from);
  $('range').value = preset ? S.from : 'custom';
  $('custom-range').hidden = preset;
  $('from').value = showTime(S.from);
  $('until').value = showTime(S.until);

  $('diff-ranges').hidden = S.mode !== 'diff';
  $('legend').hidden = S.mode !== 'diff';
  $('left-from').value = showTime(S.leftFrom);
  $('left-until').value = showTime(S.leftUntil);
  $('right-from').value = showTime(S.rightFrom);
  $('right-until').value = showTime(S.rightUntil);

  $('search').value = S.search;
  $('regex').checked = S.regex;
  $('search').placeholder = S.regex ? 'Search frames (regex)' : 'Search frames (substring)';
  for (const b of document.querySelectorAll('[data-layout]')) {
    b.setAttribute('aria-pressed', String(b.dataset.layout === S.layout));
  }
  for (const b of document.querySelectorAll('[data-view]')) {
    b.setAttribute('aria-pressed', String(b.dataset.view === S.view));
  }
  $('panes').dataset.layout = S.layout;
  flame.icicle = S.view === 'icicle';
  renderChips();
}

function renderChips() {
  const box = $('filter-chips');
  box.replaceChildren();
  S.filters.forEach((f, i) => {
    const chip = document.createElement('span');
    chip.className = 'chip';
    const t = document.createElement('span');
    t.textContent = api.matcherText(f);
    const x = document.createElement('button');
    x.type = 'button';
    x.textContent = '×';
    x.title = 'remove filter';
    x.addEventListener('click', () => {
      S.filters.splice(i, 1);
      S.zoom = [];
      renderChips();
      writeURL(true);
      load();
    });
    chip.append(t, x);
    box.appendChild(chip);
  });
}

function updateCrumbs() {
  const nav = $('crumbs');
  nav.replaceChildren();
  $('reset-zoom').disabled = S.zoom.length === 0;
  if (!S.zoom.length) return;
  const all = document.createElement('button');
  all.type = 'button';
  all.textContent = 'all';
  all.addEventListener('click', () => zoomTo([]));
  nav.appendChild(all);
  S.zoom.forEach((name, i) => {
    const sep = document.createElement('span');
    sep.textContent = '›';
    sep.className = 'sep';
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = name;
    b.title = name;
    b.addEventListener('click', () => zoomTo(S.zoom.slice(0, i + 1)));
    nav.append(sep, b);
  });
}

function zoomTo(path) {
  const node = model ? resolvePath(model, path) : null;
  flame.setZoom(node);
  S.zoom = flame.zoomPath();
  flame.draw();
  updateCrumbs();
  writeURL(false);
}
hook.zoomTo = zoomTo;

// ---- search -------------------------------------------------------------------

function compileSearch() {
  const text = S.search;
  $('search').classList.remove('invalid');
  if (!text) return null;
  if (S.regex) {
    let re;
    try {
      re = new RegExp(text, 'i');
    } catch (e) {
      $('search').classList.add('invalid');
      $('search-info').textContent = 'invalid regex';
      return undefined;
    }
    return (name) => re.test(name);
  }
  const needle = text.toLowerCase();
  return (name) => name.toLowerCase().includes(needle);
}

function applySearch(draw = true) {
  const test = compileSearch();
  if (test === undefined) return; // invalid regex: keep the previous view
  flame.setSearch(test);
  table.setFilter(test);
  if (model && draw) {
    flame.draw();
    table.render();
  }
  const info = $('search-info');
  if (!test || !model) info.textContent = '';
  else {
    const whole = model.numTicks;
    const hit = flame.matchedTicks();
    info.textContent = `matches ${whole ? ((100 * hit) / whole).toFixed(2) : '0.00'}% of samples`;
  }
}

// ---- loading ------------------------------------------------------------------

function query() {
  return `${S.type}${api.selector(S.app, S.filters)}`;
}

function rangeSec(from, until) {
  const now = Date.now() / 1000;
  return [api.resolveTime(from, now), api.resolveTime(until, now)];
}

/** Default diff ranges: the two halves of the main range. */
function ensureDiffRanges() {
  if (S.leftFrom && S.leftUntil && S.rightFrom && S.rightUntil) return;
  const [t0, t1] = rangeSec(S.from, S.until);
  const mid = Math.floor((t0 + t1) / 2);
  S.leftFrom = String(Math.floor(t0));
  S.leftUntil = String(mid);
  S.rightFrom = String(mid);
  S.rightUntil = String(Math.ceil(t1));
}

async function loadLists() {
  const [a, t] = await Promise.all([
    api.labelValues('service_name').catch(() => []),
    api.labelValues('__name__').catch((e) => {
      setStatus(`cannot list profile types: ${e.message}`, true);
      return [];
    }),
  ]);
  apps = a;
  types = t;
  if (!S.app && apps.length) S.app = apps[0];
  await narrowTypes();
  loadLabelNames();
}

/** Profile types that have data for the app, when the server can say. */
async function narrowTypes() {
  if (S.app) {
    const [t0, t1] = rangeSec('now-30d', 'now');
    try {
      const mine = await api.profileTypesFor(api.selector(S.app, []), t0 * 1000, t1 * 1000);
      if (mine.length) types = mine;
    } catch (_) {
      // Older servers: keep the global list.
    }
  }
  // A type from a shared link is kept even without data (it shows "no
  // data" rather than silently switching to something else).
  if (!S.type) S.type = preferredType();
}

function preferredType() {
  return types.includes(PREFERRED_TYPE) ? PREFERRED_TYPE
    : types.find((t) => t.startsWith('process_cpu:')) || types[0] || '';
}

async function loadLabelNames() {
  const list = $('f-names');
  const [t0, t1] = rangeSec(S.from, S.until);
  try {
    const names = await api.labelNames(api.selector(S.app, []), t0 * 1000, t1 * 1000);
    list.replaceChildren(...names
      .filter((n) => !n.startsWith('__') && n !== 'service_name')
      .map((n) => option(n, n)));
  } catch (_) {
    list.replaceChildren();
  }
}

async function loadLabelValues(name) {
  const list = $('f-values');
  list.replaceChildren();
  if (!api.validLabelName(name)) return;
  const [t0, t1] = rangeSec(S.from, S.until);
  try {
    const vals = await api.labelValuesFor(name, api.selector(S.app, S.filters), t0 * 1000, t1 * 1000);
    list.replaceChildren(...vals.map((v) => option(v, v)));
  } catch (_) {
    // Free text still works.
  }
}

async function load() {
  if (inflight) inflight.abort();
  const ctl = new AbortController();
  inflight = ctl;
  hook.status = 'loading';
  hook.error = '';
  document.body.classList.add('loading');
  const unit = unitOf(S.type);
  try {
    if (!S.type) {
      throw new Error(apps.length || types.length
        ? 'choose a profile type'
        : 'no profiles stored yet: point an agent at this server (see README)');
    }
    const [t0, t1] = rangeSec(S.from, S.until);
    if (!(t0 < t1)) throw new Error(`bad time range: ${S.from} → ${S.until}`);
    let r;
    let tl;
    if (S.mode === 'diff') {
      ensureDiffRanges();
      syncControls();
      const [l0, l1] = rangeSec(S.leftFrom, S.leftUntil);
      const [r0, r1] = rangeSec(S.rightFrom, S.rightUntil);
      if (!(l0 < l1) || !(r0 < r1)) throw new Error('bad baseline or comparison range');
      const q = query();
      const [main, d] = await Promise.all([
        api.render(q, api.apiTime(S.from), api.apiTime(S.until), 1, ctl.signal),
        api.renderDiff(q, api.apiTime(S.leftFrom), api.apiTime(S.leftUntil),
          q, api.apiTime(S.rightFrom), api.apiTime(S.rightUntil), S.maxNodes, ctl.signal),
      ]);
      tl = main.timeline;
      r = d;
      const fb = Object.assign({}, d.flamebearer);
      fb.leftTicks = d.leftTicks !== undefined ? d.leftTicks : fb.leftTicks;
      fb.rightTicks = d.rightTicks !== undefined ? d.rightTicks : fb.rightTicks;
      model = decode(fb, true);
      timeline.setRanges([
        { from: l0, until: l1, color: 'rgba(70,120,200,0.16)' },
        { from: r0, until: r1, color: 'rgba(200,120,40,0.18)' },
      ]);
    } else {
      const t0f = performance.now();
      r = await api.render(query(), api.apiTime(S.from), api.apiTime(S.until), S.maxNodes, ctl.signal);
      const t1f = performance.now();
      tl = r.timeline;
      model = decode(r.flamebearer, false);
      hook.timings = { fetchMs: t1f - t0f, decodeMs: performance.now() - t1f };
      timeline.setRanges([]);
    }
    if (ctl !== inflight) return;
    timeline.setData(tl, unit, t0, t1);
    timeline.draw();
    const ts = performance.now();
    show(unit);
    hook.timings.showMs = performance.now() - ts;
    hook.status = 'ready';
    setStatus(summary(unit), false);
  } catch (e) {
    if (e.name === 'AbortError' || ctl !== inflight) return;
    model = null;
    flame.setModel(null, unit);
    flame.draw();
    table.setData([], null, unit);
    table.render();
    timeline.setData(null, unit, ...rangeSec(S.from, S.until));
    timeline.draw();
    $('empty').hidden = true;
    hook.status = 'error';
    hook.error = e.message;
    setStatus(e.message, true);
  } finally {
    if (ctl === inflight) {
      inflight = null;
      hook.loads++;
      document.body.classList.remove('loading');
    }
  }
}

function show(unit) {
  flame.setModel(model, unit);
  flame.icicle = S.view === 'icicle';
  const node = S.zoom.length ? resolvePath(model, S.zoom) : null;
  flame.setZoom(node);
  S.zoom = flame.zoomPath(); // drops a path that no longer exists
  table.setData(functionTable(model), model, unit);
  if (S.sort) table.setSort(S.sort);
  applySearch(false);
  flame.draw();
  table.render();
  $('empty').hidden = model.numTicks > 0;
  updateCrumbs();
  writeURL(false);
}

function summary(unit) {
  const nodes = hook.nodes();
  if (model.diff) {
    return `baseline ${formatValue(model.leftTicks, unit)} · comparison ` +
      `${formatValue(model.rightTicks, unit)} · ${nodes.toLocaleString('en-US')} frames`;
  }
  const cut = model.levels.length > flame.rows()
    ? ` · stacks deeper than ${flame.rows()} frames are cut off in the graph` : '';
  return `total ${formatValue(model.numTicks, unit)} · ${nodes.toLocaleString('en-US')} frames${cut}`;
}

// ---- controls -----------------------------------------------------------------

function wire() {
  $('app').addEventListener('change', async (e) => {
    S.app = e.target.value;
    S.zoom = [];
    S.filters = [];
    types = await api.labelValues('__name__').catch(() => types);
    await narrowTypes();
    if (!types.includes(S.type)) S.type = preferredType();
    syncControls();
    writeURL(true);
    loadLabelNames();
    load();
  });
  $('ptype').addEventListener('change', (e) => {
    S.type = e.target.value;
    S.zoom = [];
    writeURL(true);
    load();
  });
  for (const b of document.querySelectorAll('[data-mode]')) {
    b.addEventListener('click', () => {
      if (S.mode === b.dataset.mode) return;
      S.mode = b.dataset.mode;
      S.zoom = [];
      if (S.mode === 'diff') ensureDiffRanges();
      syncControls();
      writeURL(true);
      load();
    });
  }
  $('range').addEventListener('change', (e) => {
    const v = e.target.value;
    if (v === 'custom') {
      const [t0, t1] = rangeSec(S.from, S.until);
      $('custom-range').hidden = false;
      $('from').value = formatDateTime(t0);
      $('until').value = formatDateTime(t1);
      $('from').focus();
      return;
    }
    S.from = v;
    S.until = 'now';
    S.zoom = [];
    syncControls();
    writeURL(true);
    load();
  });
  const applyRange = () => {
    S.from = api.apiTime($('from').value);
    S.until = api.apiTime($('until').value);
    S.zoom = [];
    syncControls();
    writeURL(true);
    load();
  };
  $('apply-range').addEventListener('click', applyRange);
  for (const id of ['from', 'until']) {
    $(id).addEventListener('keydown', (e) => e.key === 'Enter' && applyRange());
  }
  const applyDiff = () => {
    S.leftFrom = api.apiTime($('left-from').value);
    S.leftUntil = api.apiTime($('left-until').value);
    S.rightFrom = api.apiTime($('right-from').value);
    S.rightUntil = api.apiTime($('right-until').value);
    S.zoom = [];
    writeURL(true);
    load();
  };
  $('apply-diff').addEventListener('click', applyDiff);
  for (const id of ['left-from', 'left-until', 'right-from', 'right-until']) {
    $(id).addEventListener('keydown', (e) => e.key === 'Enter' && applyDiff());
  }
  $('refresh').addEventListener('click', () => load());

  $('filter-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('f-name').value.trim();
    const f = { name, op: $('f-op').value, value: $('f-value').value };
    if (!api.validLabelName(name)) {
      setStatus(`not a label name: ${name}`, true);
      return;
    }
    if (f.op.includes('~')) {
      try {
        new RegExp(f.value); // eslint-disable-line no-new
      } catch (_) {
        setStatus(`invalid regex: ${f.value}`, true);
        return;
      }
    }
    S.filters.push(f);
    S.zoom = [];
    $('f-name').value = '';
    $('f-value').value = '';
    renderChips();
    writeURL(true);
    load();
  });
  $('f-name').addEventListener('change', (e) => loadLabelValues(e.target.value.trim()));

  let timer = 0;
  $('search').addEventListener('input', () => {
    clearTimeout(timer);
    // Debounced: recolouring 100k frames per keystroke is wasted work.
    timer = setTimeout(() => {
      S.search = $('search').value;
      applySearch();
      writeURL(false);
    }, 120);
  });
  $('regex').addEventListener('change', (e) => {
    S.regex = e.target.checked;
    $('search').placeholder = S.regex ? 'Search frames (regex)' : 'Search frames (substring)';
    applySearch();
    writeURL(false);
  });
  $('reset-zoom').addEventListener('click', () => zoomTo([]));
  for (const b of document.querySelectorAll('[data-layout]')) {
    b.addEventListener('click', () => {
      S.layout = b.dataset.layout;
      syncControls();
      writeURL(false);
      redraw();
    });
  }
  for (const b of document.querySelectorAll('[data-view]')) {
    b.addEventListener('click', () => {
      S.view = b.dataset.view;
      syncControls();
      writeURL(false);
      flame.draw();
    });
  }
  $('flame').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') zoomTo([]);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === '/' && document.activeElement.tagName !== 'INPUT') {
      e.preventDefault();
      $('search').focus();
    }
  });
  window.addEventListener('popstate', () => {
    readURL();
    syncControls();
    load();
  });
  let frame = 0;
  const ro = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(redraw);
  });
  ro.observe($('flame-wrap'));
  ro.observe($('timeline').parentElement);
}

function redraw() {
  flame.draw();
  timeline.draw();
}

async function main() {
  readURL();
  api.setTenant(S.tenant);
  wire();
  syncControls();
  hook.status = 'loading';
  await loadLists();
  syncControls();
  await load();
}

main();
