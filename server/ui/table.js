// table.js - the top-functions table next to the flame graph.
//
// Rows come from flamemodel.functionTable(): one per function with self
// and total (recursion counted once).  Headers sort on click; the search
// filters rows as well as highlighting frames.  Only the first MAX_ROWS are
// put in the DOM: a table of 50k rows is slow to build and useless to read.
// Every cell is filled with textContent (function names are untrusted).

import { formatChange, formatValue, pct } from './format.js';

const MAX_ROWS = 300;

const SINGLE_COLS = [
  { key: 'name', label: 'Function' },
  { key: 'self', label: 'Self', num: true },
  { key: 'total', label: 'Total', num: true },
];
// Diff rows compare shares (each side normalised by its own total), so
// only percentages are shown; absolute values are in the row's title.
// A function name split so that a narrow column elides the package, not the
// class and method: "java/security/MessageDigest.getInstance" keeps
// "MessageDigest.getInstance" whole and shortens "java/security/" from the
// left.  textContent stays the full name.
function fnLabel(name) {
  const cut = Math.max(name.lastIndexOf('/'), name.lastIndexOf('::')) + 1;
  const wrap = document.createElement('span');
  wrap.className = 'fnwrap';
  if (cut > 0 && cut < name.length) {
    const pkg = document.createElement('span');
    pkg.className = 'fnpkg';
    // The inner isolate keeps "java/security/" in reading order while the
    // outer right-to-left box puts the ellipsis on its left.
    const inner = document.createElement('span');
    inner.className = 'fnpkgtext';
    inner.textContent = name.slice(0, cut);
    pkg.appendChild(inner);
    wrap.appendChild(pkg);
  }
  const leaf = document.createElement('span');
  leaf.className = 'fnleaf';
  leaf.textContent = cut > 0 && cut < name.length ? name.slice(cut) : name;
  wrap.appendChild(leaf);
  return wrap;
}

const DIFF_COLS = [
  { key: 'name', label: 'Function' },
  { key: 'lTotal', label: 'Baseline', num: true, side: 'l', share: true },
  { key: 'rTotal', label: 'Comparison', num: true, side: 'r', share: true },
  { key: 'change', label: 'Change', num: true },
];

export class TopTable {
  constructor(table, note, opts) {
    this.table = table;
    this.note = note;
    this.onPick = (opts && opts.onPick) || (() => {});
    this.onSort = (opts && opts.onSort) || (() => {});
    this.rows = [];
    this.diff = false;
    this.unit = '';
    this.totals = { all: 0, l: 0, r: 0 };
    this.sortKey = 'self';
    this.desc = true;
    this.filter = null;
  }

  setData(rows, model, unit) {
    this.rows = rows;
    this.diff = !!(model && model.diff);
    this.unit = unit;
    this.totals = model
      ? { all: model.numTicks, l: model.leftTicks, r: model.rightTicks }
      : { all: 0, l: 0, r: 0 };
    const cols = this.cols();
    if (!cols.some((c) => c.key === this.sortKey)) {
      this.sortKey = this.diff ? 'change' : 'self';
      this.desc = true;
    }
  }

  /** "self", "-self" (descending) or any column key. */
  setSort(spec) {
    const s = String(spec || '');
    const key = s.replace(/^-/, '');
    if (!key) return;
    this.sortKey = key;
    this.desc = s.startsWith('-');
  }

  sortSpec() {
    return `${this.desc ? '-' : ''}${this.sortKey}`;
  }

  setFilter(test) {
    this.filter = test;
  }

  cols() {
    return this.diff ? DIFF_COLS : SINGLE_COLS;
  }

  sorted() {
    const k = this.sortKey;
    const dir = this.desc ? -1 : 1;
    let rows = this.filter ? this.rows.filter((r) => this.filter(r.name)) : this.rows.slice();
    rows.sort((a, b) => {
      let c;
      if (k === 'name') c = a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      else {
        const x = a[k] === Infinity ? Number.MAX_VALUE : a[k] || 0;
        const y = b[k] === Infinity ? Number.MAX_VALUE : b[k] || 0;
        c = x - y;
      }
      // Ties: biggest total first, then by name, so the order is stable.
      return c * dir || (b.total - a.total) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    });
    return rows;
  }

  render() {
    const t = this.table;
    t.replaceChildren();
    t.classList.toggle('diff', this.diff);
    const thead = document.createElement('thead');
    const hr = document.createElement('tr');
    for (const c of this.cols()) {
      const th = document.createElement('th');
      th.dataset.key = c.key;
      th.tabIndex = 0;
      if (c.num) th.className = 'num';
      const active = c.key === this.sortKey;
      th.setAttribute('aria-sort', active ? (this.desc ? 'descending' : 'ascending') : 'none');
      th.textContent = c.label + (active ? (this.desc ? ' ▼' : ' ▲') : '');
      const sortBy = () => {
        if (this.sortKey === c.key) this.desc = !this.desc;
        else {
          this.sortKey = c.key;
          this.desc = c.key !== 'name';
        }
        this.render();
        this.onSort(this.sortSpec());
      };
      th.addEventListener('click', sortBy);
      th.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          sortBy();
        }
      });
      hr.appendChild(th);
    }
    thead.appendChild(hr);
    t.appendChild(thead);

    const rows = this.sorted();
    const tbody = document.createElement('tbody');
    const shown = rows.slice(0, MAX_ROWS);
    for (const r of shown) tbody.appendChild(this.rowEl(r));
    t.appendChild(tbody);
    this.note.textContent = rows.length > shown.length
      ? `showing ${shown.length} of ${rows.length} functions`
      : `${rows.length} function${rows.length === 1 ? '' : 's'}`;
  }

  rowEl(r) {
    const tr = document.createElement('tr');
    tr.dataset.name = r.name;
    const u = this.unit;
    tr.title = this.diff
      ? `${r.name}\nbaseline: total ${formatValue(r.lTotal, u)}, self ${formatValue(r.lSelf, u)}` +
        `\ncomparison: total ${formatValue(r.rTotal, u)}, self ${formatValue(r.rSelf, u)}` +
        '\nclick to search for this function'
      : `${r.name}\nclick to search for this function`;
    tr.addEventListener('click', () => this.onPick(r.name));
    for (const c of this.cols()) {
      const td = document.createElement('td');
      if (c.key === 'name') {
        td.className = 'fn';
        td.appendChild(fnLabel(r.name));
      } else if (c.key === 'change') {
        td.className = `num ${r.change > 0.02 ? 'up' : r.change < -0.02 ? 'down' : ''}`;
        td.textContent = formatChange(r.change);
      } else {
        td.className = c.share ? 'num share' : 'num';
        const whole = c.side === 'l' ? this.totals.l : c.side === 'r' ? this.totals.r : this.totals.all;
        const bar = document.createElement('div');
        bar.className = 'sbar';
        bar.style.width = `${whole ? Math.min(100, (100 * r[c.key]) / whole) : 0}%`;
        const p = document.createElement('span');
        p.className = 'pct';
        p.textContent = pct(r[c.key], whole);
        if (c.share) {
          td.append(bar, p);
        } else {
          const v = document.createElement('span');
          v.textContent = formatValue(r[c.key], this.unit);
          td.append(bar, v, p);
        }
      }
      tr.appendChild(td);
    }
    return tr;
  }
}
