// flame.js - draws a flame graph model (flamemodel.js) on a <canvas>.
//
// Speed with 100k+ nodes comes from never touching what cannot be seen:
// each level is binary-searched for the first node intersecting the
// viewport, iteration stops at the viewport's right edge, and runs of
// nodes narrower than a pixel are merged into one grey rectangle while
// whole sub-pixel stretches are skipped with a second binary search, so the
// work per level is bounded by the canvas width, not by the node count.
// Text goes through fillText (canvas text is never parsed as HTML); the
// tooltip is built with textContent only.

import { firstAtOrAfter, nodeAt, pathOf, relChange } from './flamemodel.js';
import { formatChange, formatValue, pct } from './format.js';

const ROW = 18; // px per level
const FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
const MIN_W = 1; // frames narrower than this (px) are merged, not drawn alone
const TEXT_PAD = 4;

// Warm palette for single graphs; a frame's colour depends only on its
// package so one library reads as one colour across the whole graph.
const PALETTE = [
  '#f6a35b', '#f2c14e', '#e8885a', '#f59f8b', '#e9b872', '#f4d06f', '#f7a072',
  '#eab676', '#f18f6b', '#ffc98b', '#e6a157', '#f3b391', '#d9a066', '#f7bc62',
];
const DIM = '#dcdcdc';
const MERGED = 'rgba(150,150,150,0.55)';

function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** Package part of a frame name: strips ".method" and the class. */
function packageOf(name) {
  let s = name;
  const paren = s.indexOf('(');
  if (paren > 0) s = s.slice(0, paren);
  const dot = s.lastIndexOf('.');
  if (dot > 0) s = s.slice(0, dot);
  const cut = Math.max(s.lastIndexOf('/'), s.lastIndexOf('.'), s.lastIndexOf('::'));
  return cut > 0 ? s.slice(0, cut) : s;
}

/** Diff colour: grey when unchanged, red when hotter, green when cooler. */
export function diffColor(change) {
  if (change === Infinity) return 'rgb(224,49,49)';
  if (change <= -1) return 'rgb(43,165,76)';
  if (!(Math.abs(change) >= 0.02)) return 'rgb(205,205,205)';
  // sqrt: a 10% change is already clearly tinted; 100% and more saturate.
  const t = Math.sqrt(Math.min(Math.abs(change), 1));
  const [r, g, b] = change > 0 ? [224, 49, 49] : [43, 165, 76];
  const mix = (z) => Math.round(205 + (z - 205) * t);
  return `rgb(${mix(r)},${mix(g)},${mix(b)})`;
}

export class FlameView {
  /**
   * canvas: the <canvas>; tooltip: an absolutely positioned element;
   * opts.onZoom(node|null) after a click changes the zoom.
   */
  constructor(canvas, tooltip, opts) {
    this.canvas = canvas;
    this.tooltip = tooltip;
    this.onZoom = (opts && opts.onZoom) || (() => {});
    this.model = null;
    this.unit = '';
    this.zoom = null; // {level, index}
    this.match = null; // Uint8Array by name index, null = no search
    this.icicle = true;
    this.colors = [];
    this.drawn = []; // what the last draw() painted, for tests and hit checks
    this.merged = 0;
    this.width = 0;
    this.charW = 7.2;
    this.hover = null;
    canvas.addEventListener('mousemove', (e) => this.onMove(e));
    canvas.addEventListener('mouseleave', () => this.hideTooltip());
    canvas.addEventListener('click', (e) => this.onClick(e));
  }

  setModel(m, unit) {
    this.model = m;
    this.unit = unit;
    this.zoom = null;
    this.colors = m ? m.names.map((n) => PALETTE[hash(packageOf(n)) % PALETTE.length]) : [];
    this.hideTooltip();
  }

  /** test(name) -> bool, or null to clear the search. */
  setSearch(test) {
    const m = this.model;
    if (!m || !test) {
      this.match = null;
      return;
    }
    this.match = new Uint8Array(m.names.length);
    for (let k = 1; k < m.names.length; k++) this.match[k] = test(m.names[k]) ? 1 : 0;
  }

  /** Ticks under matching frames, each counted once (not under another match). */
  matchedTicks() {
    const m = this.model;
    if (!m || !this.match) return 0;
    let sum = 0;
    let under = new Uint8Array(m.levels.length ? m.levels[0].n : 0);
    for (let d = 1; d < m.levels.length; d++) {
      const L = m.levels[d];
      const next = new Uint8Array(L.n);
      for (let i = 0; i < L.n; i++) {
        const p = L.parent[i];
        const inherited = p >= 0 && under[p];
        if (inherited) next[i] = 1;
        else if (this.match[L.name[i]]) {
          next[i] = 1;
          sum += L.total[i];
        }
      }
      under = next;
    }
    return sum;
  }

  setZoom(node) {
    const m = this.model;
    if (!node || !m || node.level <= 0 || node.level >= m.levels.length ||
        node.index < 0 || node.index >= m.levels[node.level].n) {
      this.zoom = null;
    } else {
      this.zoom = { level: node.level, index: node.index };
    }
  }

  zoomPath() {
    return this.zoom && this.model ? pathOf(this.model, this.zoom.level, this.zoom.index) : [];
  }

  viewport() {
    const m = this.model;
    if (this.zoom) {
      const L = m.levels[this.zoom.level];
      return [L.x[this.zoom.index], L.x[this.zoom.index] + L.total[this.zoom.index]];
    }
    const R = m.levels[0];
    return [0, R && R.n ? R.x[0] + R.total[0] : m.numTicks];
  }

  /** Levels drawn: browsers give up on canvases taller than ~32k px. */
  rows() {
    const dpr = window.devicePixelRatio || 1;
    const cap = Math.floor(32000 / (ROW * dpr));
    return this.model ? Math.min(this.model.levels.length, cap) : 0;
  }

  rowY(level) {
    return this.icicle ? level * ROW : (this.rows() - 1 - level) * ROW;
  }

  colorOf(level, i) {
    const m = this.model;
    const L = m.levels[level];
    const k = L.name[i];
    if (this.match && !this.match[k]) return DIM;
    if (m.diff) return diffColor(relChange(L.lTotal[i], m.leftTicks, L.rTotal[i], m.rightTicks));
    if (level === 0) return '#c9c9c9';
    return this.colors[k];
  }

  draw() {
    const m = this.model;
    const cv = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(100, cv.parentElement ? cv.parentElement.clientWidth : 800);
    const nrows = this.rows();
    const height = Math.max(ROW, nrows * ROW);
    this.width = width;
    if (cv.width !== Math.round(width * dpr) || cv.height !== Math.round(height * dpr)) {
      cv.width = Math.round(width * dpr);
      cv.height = Math.round(height * dpr);
      cv.style.width = `${width}px`;
      cv.style.height = `${height}px`;
    }
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    this.charW = ctx.measureText('MMMMMMMMMM').width / 10 || 7.2;
    this.drawn = [];
    this.merged = 0;
    if (!m || !m.levels.length) return;
    const [vx0, vx1] = this.viewport();
    if (!(vx1 > vx0)) return;
    const k = width / (vx1 - vx0);
    const zl = this.zoom ? this.zoom.level : 0;

    for (let d = 0; d < nrows; d++) {
      const L = m.levels[d];
      const y = this.rowY(d);
      // Ancestors of the zoomed frame span the whole width; fade them.
      ctx.globalAlpha = d < zl ? 0.55 : 1;
      let i = nodeAt(L, vx0);
      if (i < 0) i = firstAtOrAfter(L, vx0, 0, L.n);
      let runStart = -1;
      let runEnd = -1;
      const flush = () => {
        if (runEnd - runStart >= MIN_W) {
          ctx.fillStyle = MERGED;
          ctx.fillRect(runStart, y, runEnd - runStart, ROW - 1);
          this.merged++;
        }
        runStart = -1;
        runEnd = -1;
      };
      while (i < L.n && L.x[i] < vx1) {
        const px0 = Math.max(0, (L.x[i] - vx0) * k);
        const px1 = Math.min(width, (L.x[i] + L.total[i] - vx0) * k);
        const w = px1 - px0;
        if (w < MIN_W) {
          if (runStart < 0 || px0 > runEnd + 0.5) {
            flush();
            runStart = px0;
          }
          runEnd = Math.max(runEnd, px1);
          // Every node starting in this pixel column but the last one also
          // ends in it: merge them all and jump to that last one.
          const nextCol = vx0 + (Math.floor(px0) + 1) / k;
          const j = firstAtOrAfter(L, nextCol, i + 1, L.n);
          if (j - 1 > i) {
            runEnd = Math.max(runEnd, Math.min(width, (L.x[j - 2] + L.total[j - 2] - vx0) * k));
            i = j - 1;
          } else {
            i++;
          }
          continue;
        }
        flush();
        this.drawFrame(ctx, d, i, px0, y, w);
        i++;
      }
      flush();
    }
    ctx.globalAlpha = 1;
  }

  drawFrame(ctx, d, i, x, y, w) {
    const m = this.model;
    const L = m.levels[d];
    const name = m.names[L.name[i]];
    const color = this.colorOf(d, i);
    ctx.fillStyle = color;
    ctx.fillRect(x, y, w > 3 ? w - 1 : w, ROW - 1);
    const highlighted = !!(this.match && this.match[L.name[i]]);
    this.drawn.push({ level: d, index: i, name, x, y, w, h: ROW - 1, color, highlighted });
    const maxChars = Math.floor((w - 2 * TEXT_PAD) / this.charW);
    if (maxChars < 3) return;
    // Java frames end with the method; when space is short, keep the end.
    const text = name.length <= maxChars ? name : `…${name.slice(name.length - maxChars + 1)}`;
    ctx.fillStyle = this.match && !highlighted ? '#8a8a8a' : '#1d1d1d';
    ctx.fillText(text, x + TEXT_PAD, y + ROW / 2);
  }

  /** {level, index} under a mouse event, or null. */
  hit(e) {
    const m = this.model;
    if (!m || !m.levels.length) return null;
    const r = this.canvas.getBoundingClientRect();
    const px = e.clientX - r.left;
    const py = e.clientY - r.top;
    const nrows = this.rows();
    const row = Math.floor(py / ROW);
    if (row < 0 || row >= nrows || px < 0 || px >= r.width) return null;
    const level = this.icicle ? row : nrows - 1 - row;
    const [vx0, vx1] = this.viewport();
    const t = vx0 + (px / r.width) * (vx1 - vx0);
    const i = nodeAt(m.levels[level], t);
    return i < 0 ? null : { level, index: i };
  }

  onClick(e) {
    const node = this.hit(e);
    if (!node) return;
    // Clicking the root or the zoomed frame itself goes back out.
    if (node.level === 0) this.setZoom(null);
    else if (this.zoom && node.level === this.zoom.level && node.index === this.zoom.index) {
      const p = this.model.levels[node.level].parent[node.index];
      this.setZoom(node.level > 1 && p >= 0 ? { level: node.level - 1, index: p } : null);
    } else this.setZoom(node);
    this.draw();
    this.onZoom(this.zoom);
    this.onMove(e);
  }

  onMove(e) {
    const node = this.hit(e);
    if (!node) {
      this.hideTooltip();
      return;
    }
    this.canvas.style.cursor = 'pointer';
    this.showTooltip(node, e.clientX, e.clientY);
  }

  hideTooltip() {
    this.hover = null;
    this.tooltip.hidden = true;
    this.canvas.style.cursor = '';
  }

  /** [label, value] rows describing a frame. */
  describe(level, i) {
    const m = this.model;
    const L = m.levels[level];
    const u = this.unit;
    const rows = [];
    if (m.diff) {
      const lt = m.leftTicks;
      const rt = m.rightTicks;
      rows.push(['Baseline', `${formatValue(L.lTotal[i], u)} (${pct(L.lTotal[i], lt)})`]);
      rows.push(['Comparison', `${formatValue(L.rTotal[i], u)} (${pct(L.rTotal[i], rt)})`]);
      rows.push(['Self', `${formatValue(L.lSelf[i], u)} → ${formatValue(L.rSelf[i], u)}`]);
      rows.push(['Change', formatChange(relChange(L.lTotal[i], lt, L.rTotal[i], rt))]);
    } else {
      const all = m.numTicks;
      rows.push(['Total', `${formatValue(L.total[i], u)} (${pct(L.total[i], all)})`]);
      rows.push(['Self', `${formatValue(L.self[i], u)} (${pct(L.self[i], all)})`]);
      if (this.zoom) {
        const [a, b] = this.viewport();
        rows.push(['Of zoomed', pct(L.total[i], b - a)]);
      }
    }
    return rows;
  }

  showTooltip(node, cx, cy) {
    const m = this.model;
    const tip = this.tooltip;
    this.hover = node;
    // textContent only: frame names come from profiled programs.
    tip.replaceChildren();
    const title = document.createElement('div');
    title.className = 'tip-title';
    title.textContent = m.names[m.levels[node.level].name[node.index]];
    tip.appendChild(title);
    const tbl = document.createElement('table');
    for (const [k, v] of this.describe(node.level, node.index)) {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.textContent = k;
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(th, td);
      tbl.appendChild(tr);
    }
    tip.appendChild(tbl);
    const hint = document.createElement('div');
    hint.className = 'tip-hint';
    hint.textContent = 'click to zoom';
    tip.appendChild(hint);
    tip.hidden = false;
    const pad = 14;
    const w = tip.offsetWidth;
    const h = tip.offsetHeight;
    let x = cx + pad;
    let y = cy + pad;
    if (x + w > window.innerWidth - 4) x = Math.max(4, cx - w - pad);
    if (y + h > window.innerHeight - 4) y = Math.max(4, cy - h - pad);
    tip.style.left = `${x + window.scrollX}px`;
    tip.style.top = `${y + window.scrollY}px`;
  }
}
