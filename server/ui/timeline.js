// timeline.js - the selected profile type over time, on a <canvas>.
//
// Data is render's `timeline` ({startTime, samples, durationDelta}): one
// bucket per step, already zero-filled by the server.  Dragging across the
// chart selects a time range (onSelect), which is how people narrow a
// spike down; in diff mode the baseline and comparison ranges are shaded.

import { formatTick, formatValue } from './format.js';

const H = 120;
const LEFT = 64;
const BOTTOM = 20;
const TOP = 8;

export class Timeline {
  constructor(canvas, opts) {
    this.canvas = canvas;
    this.onSelect = (opts && opts.onSelect) || (() => {});
    this.data = null;
    this.unit = '';
    this.t0 = 0;
    this.t1 = 1;
    this.ranges = [];
    this.drag = null;
    this.width = 0;
    canvas.addEventListener('mousedown', (e) => this.down(e));
    window.addEventListener('mousemove', (e) => this.move(e));
    window.addEventListener('mouseup', (e) => this.up(e));
  }

  /** timeline may be null (no data); [t0, t1] is the window in epoch s. */
  setData(timeline, unit, t0, t1) {
    this.data = timeline && Array.isArray(timeline.samples) ? timeline : null;
    this.unit = unit;
    this.t0 = t0;
    this.t1 = t1 > t0 ? t1 : t0 + 1;
  }

  /** [{from, until, color}] shaded over the chart (epoch s). */
  setRanges(ranges) {
    this.ranges = ranges || [];
  }

  xOf(t) {
    return LEFT + ((t - this.t0) / (this.t1 - this.t0)) * (this.width - LEFT - 8);
  }

  tOf(x) {
    return this.t0 + ((x - LEFT) / (this.width - LEFT - 8)) * (this.t1 - this.t0);
  }

  draw() {
    const cv = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(200, cv.parentElement ? cv.parentElement.clientWidth : 800);
    this.width = width;
    if (cv.width !== Math.round(width * dpr) || cv.height !== Math.round(H * dpr)) {
      cv.width = Math.round(width * dpr);
      cv.height = Math.round(H * dpr);
      cv.style.width = `${width}px`;
      cv.style.height = `${H}px`;
    }
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, H);
    ctx.font = '11px system-ui, sans-serif';
    const plotB = H - BOTTOM;

    const d = this.data;
    let max = 0;
    if (d) for (const v of d.samples) max = Math.max(max, +v || 0);

    // Y grid: three lines at round-ish fractions of the maximum.
    ctx.strokeStyle = '#e6e6e6';
    ctx.fillStyle = '#666';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let g = 0; g <= 2; g++) {
      const y = TOP + ((plotB - TOP) * g) / 2;
      ctx.beginPath();
      ctx.moveTo(LEFT, y + 0.5);
      ctx.lineTo(width - 8, y + 0.5);
      ctx.stroke();
      if (max > 0) ctx.fillText(formatValue((max * (2 - g)) / 2, this.unit), LEFT - 6, y);
    }

    for (const r of this.ranges) {
      const a = Math.max(LEFT, this.xOf(r.from));
      const b = Math.min(width - 8, this.xOf(r.until));
      if (b > a) {
        ctx.fillStyle = r.color;
        ctx.fillRect(a, TOP, b - a, plotB - TOP);
      }
    }

    if (d && max > 0) {
      const step = +d.durationDelta || 15;
      ctx.fillStyle = 'rgba(232,128,48,0.85)';
      for (let i = 0; i < d.samples.length; i++) {
        const v = +d.samples[i] || 0;
        if (v <= 0) continue;
        const ts = +d.startTime + i * step;
        const a = Math.max(LEFT, this.xOf(ts));
        const b = Math.min(width - 8, this.xOf(ts + step));
        if (b <= a) continue;
        const h = ((plotB - TOP) * v) / max;
        ctx.fillRect(a, plotB - h, Math.max(1, b - a - (b - a > 3 ? 1 : 0)), h);
      }
    } else {
      ctx.fillStyle = '#999';
      ctx.textAlign = 'center';
      ctx.fillText('no samples in this range', (LEFT + width) / 2, (TOP + plotB) / 2);
    }

    // X axis: about one label per 110 px.
    ctx.fillStyle = '#666';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const span = this.t1 - this.t0;
    const n = Math.max(2, Math.floor((width - LEFT) / 110));
    for (let i = 0; i <= n; i++) {
      const t = this.t0 + (span * i) / n;
      const x = this.xOf(t);
      ctx.fillRect(x, plotB, 1, 4);
      ctx.fillText(formatTick(t, span), Math.min(Math.max(x, LEFT + 20), width - 30), plotB + 5);
    }
    ctx.fillStyle = '#bbb';
    ctx.fillRect(LEFT, plotB, width - 8 - LEFT, 1);

    if (this.drag && Math.abs(this.drag.x1 - this.drag.x0) > 1) {
      ctx.fillStyle = 'rgba(60,110,200,0.22)';
      const a = Math.min(this.drag.x0, this.drag.x1);
      ctx.fillRect(a, TOP, Math.abs(this.drag.x1 - this.drag.x0), plotB - TOP);
    }
  }

  localX(e) {
    const r = this.canvas.getBoundingClientRect();
    return Math.min(Math.max(e.clientX - r.left, LEFT), this.width - 8);
  }

  down(e) {
    if (e.button !== 0) return;
    const x = this.localX(e);
    this.drag = { x0: x, x1: x };
    e.preventDefault();
  }

  move(e) {
    if (!this.drag) return;
    this.drag.x1 = this.localX(e);
    this.draw();
  }

  up() {
    if (!this.drag) return;
    const { x0, x1 } = this.drag;
    this.drag = null;
    if (Math.abs(x1 - x0) < 4) {
      this.draw();
      return;
    }
    const a = Math.floor(this.tOf(Math.min(x0, x1)));
    const b = Math.ceil(this.tOf(Math.max(x0, x1)));
    this.onSelect(a, b);
  }
}
