// flamemodel.js - the flame graph as typed arrays, built from flamebearer.
//
// Why typed arrays: a 100k-node graph decoded into one object per node
// costs tens of MB and GC pauses; per-level Float64Array/Int32Array columns
// are compact, and every query the renderer needs (which node is under the
// mouse, which nodes intersect the viewport) is a binary search on a
// level's x column because nodes of a level are sorted left to right and
// never overlap (pyroscope-api.md §4.2).
//
// Single graphs: levels hold [x_delta, total, self, name] 4-tuples.
// Diff graphs (render-diff): 7-tuples [l_xd, l_total, l_self, r_xd,
// r_total, r_self, name] over the union tree.  A diff node is drawn with
// the combined width (left + right ticks, as Pyroscope does); its position
// is the sum of its left and right absolute offsets, which keeps children
// inside parents because both sides are laid out in the same order.

/**
 * Decodes a flamebearer object ({names, levels, numTicks, maxSelf}) into a
 * model; diff selects 7-tuples.  Throws on malformed input instead of
 * drawing garbage.
 */
export function decode(fb, diff) {
  if (!fb || !Array.isArray(fb.names) || !Array.isArray(fb.levels)) {
    throw new Error('response has no flamebearer');
  }
  const step = diff ? 7 : 4;
  const names = fb.names.map((n) => String(n));
  const levels = [];
  for (const arr of fb.levels) {
    if (!Array.isArray(arr) || arr.length % step !== 0) {
      throw new Error('malformed flamebearer level');
    }
    const n = arr.length / step;
    const L = {
      n,
      x: new Float64Array(n),
      total: new Float64Array(n),
      self: new Float64Array(n),
      name: new Int32Array(n),
      parent: new Int32Array(n),
      // children of node i are [childStart[i], childEnd[i]) in the next level
      childStart: new Int32Array(n),
      childEnd: new Int32Array(n),
      lTotal: diff ? new Float64Array(n) : null,
      rTotal: diff ? new Float64Array(n) : null,
      lSelf: diff ? new Float64Array(n) : null,
      rSelf: diff ? new Float64Array(n) : null,
    };
    if (diff) {
      let lprev = 0;
      let rprev = 0;
      for (let i = 0, j = 0; i < n; i++, j += 7) {
        const lx = lprev + +arr[j];
        const rx = rprev + +arr[j + 3];
        lprev = lx + +arr[j + 1];
        rprev = rx + +arr[j + 4];
        L.x[i] = lx + rx;
        L.lTotal[i] = +arr[j + 1];
        L.lSelf[i] = +arr[j + 2];
        L.rTotal[i] = +arr[j + 4];
        L.rSelf[i] = +arr[j + 5];
        L.total[i] = L.lTotal[i] + L.rTotal[i];
        L.self[i] = L.lSelf[i] + L.rSelf[i];
        L.name[i] = arr[j + 6] | 0;
      }
    } else {
      let prev = 0;
      for (let i = 0, j = 0; i < n; i++, j += 4) {
        L.x[i] = prev + +arr[j];
        L.total[i] = +arr[j + 1];
        L.self[i] = +arr[j + 2];
        L.name[i] = arr[j + 3] | 0;
        prev = L.x[i] + L.total[i];
      }
    }
    for (let i = 0; i < n; i++) {
      if (L.name[i] < 0 || L.name[i] >= names.length) throw new Error('bad name index in flamebearer');
    }
    levels.push(L);
  }
  link(levels);
  const m = {
    diff: !!diff,
    names,
    levels,
    numTicks: +fb.numTicks || (levels.length && levels[0].n ? levels[0].total[0] : 0),
    maxSelf: +fb.maxSelf || 0,
    leftTicks: diff ? +fb.leftTicks || 0 : 0,
    rightTicks: diff ? +fb.rightTicks || 0 : 0,
  };
  return m;
}

/*
 * Parent/child links by interval containment, one merge-like pass per
 * level pair: children of level d+1 are sorted, parents of level d too, so
 * a single moving pointer finds each child's parent.  Children of a parent
 * end up contiguous.
 */
function link(levels) {
  if (levels.length) levels[0].parent.fill(-1);
  for (let d = 0; d + 1 < levels.length; d++) {
    const P = levels[d];
    const C = levels[d + 1];
    P.childStart.fill(0);
    P.childEnd.fill(0);
    let p = 0;
    for (let c = 0; c < C.n; c++) {
      const cx = C.x[c];
      while (p < P.n && P.x[p] + P.total[p] <= cx) p++;
      if (p >= P.n || P.x[p] > cx) {
        C.parent[c] = -1; // orphan (malformed input): drawn, but not walkable
        continue;
      }
      C.parent[c] = p;
      if (P.childEnd[p] === 0 && P.childStart[p] === 0) P.childStart[p] = c;
      P.childEnd[p] = c + 1;
    }
  }
  const last = levels[levels.length - 1];
  if (last) {
    last.childStart.fill(0);
    last.childEnd.fill(0);
  }
}

/** Index of the node of level L covering tick t, or -1. */
export function nodeAt(L, t) {
  let lo = 0;
  let hi = L.n - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (L.x[mid] <= t) lo = mid + 1;
    else hi = mid - 1;
  }
  const i = hi;
  return i >= 0 && t < L.x[i] + L.total[i] ? i : -1;
}

/** First index in [lo, hi) whose x is >= t (lower bound). */
export function firstAtOrAfter(L, t, lo, hi) {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (L.x[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Frame names from the root's child down to (level, i). */
export function pathOf(m, level, i) {
  const out = [];
  for (let d = level; d >= 1 && i >= 0; d--) {
    out.push(m.names[m.levels[d].name[i]]);
    i = m.levels[d].parent[i];
  }
  return out.reverse();
}

/** The node a path of names leads to ({level, index}) or null. */
export function resolvePath(m, path) {
  if (!path || !path.length || m.levels.length < 2) return null;
  let i = 0; // the root
  for (let d = 1; d <= path.length; d++) {
    if (d >= m.levels.length) return null;
    const P = m.levels[d - 1];
    const C = m.levels[d];
    let found = -1;
    for (let c = P.childStart[i]; c < P.childEnd[i]; c++) {
      if (m.names[C.name[c]] === path[d - 1]) {
        found = c;
        break;
      }
    }
    if (found < 0) return null;
    i = found;
  }
  return { level: path.length, index: i };
}

/**
 * Per-function totals for the table: self sums every node; total sums a
 * node only when the same function is not already on its call path, so
 * recursion is not counted twice.  Diff models also get per-side sums.
 */
export function functionTable(m) {
  const nn = m.names.length;
  const self = new Float64Array(nn);
  const total = new Float64Array(nn);
  const lSelf = m.diff ? new Float64Array(nn) : null;
  const rSelf = m.diff ? new Float64Array(nn) : null;
  const lTotal = m.diff ? new Float64Array(nn) : null;
  const rTotal = m.diff ? new Float64Array(nn) : null;
  const onPath = new Int32Array(nn);
  const seen = new Uint8Array(nn);
  if (m.levels.length < 2) return [];

  // Iterative DFS from the root's children; the stack holds (level, index,
  // phase) and the phase-1 entry undoes the on-path mark on the way out.
  const stack = [];
  const root = m.levels[0];
  for (let c = root.childEnd[0] - 1; c >= root.childStart[0]; c--) stack.push(1, c, 0);
  while (stack.length) {
    const phase = stack.pop();
    const i = stack.pop();
    const d = stack.pop();
    const L = m.levels[d];
    const k = L.name[i];
    if (phase === 1) {
      onPath[k]--;
      continue;
    }
    seen[k] = 1;
    self[k] += L.self[i];
    if (m.diff) {
      lSelf[k] += L.lSelf[i];
      rSelf[k] += L.rSelf[i];
    }
    if (onPath[k] === 0) {
      total[k] += L.total[i];
      if (m.diff) {
        lTotal[k] += L.lTotal[i];
        rTotal[k] += L.rTotal[i];
      }
    }
    onPath[k]++;
    stack.push(d, i, 1);
    if (d + 1 < m.levels.length) {
      for (let c = L.childEnd[i] - 1; c >= L.childStart[i]; c--) stack.push(d + 1, c, 0);
    }
  }
  const rows = [];
  for (let k = 0; k < nn; k++) {
    if (!seen[k]) continue;
    const r = { name: m.names[k], self: self[k], total: total[k] };
    if (m.diff) {
      r.lSelf = lSelf[k];
      r.rSelf = rSelf[k];
      r.lTotal = lTotal[k];
      r.rTotal = rTotal[k];
      r.change = relChange(lTotal[k], m.leftTicks, rTotal[k], m.rightTicks);
    }
    rows.push(r);
  }
  return rows;
}

/**
 * Relative change of a frame's share between the two sides: each side is
 * normalised by its own total first, so a longer comparison range does not
 * make everything look hotter.  Infinity = only in the comparison, -1 =
 * only in the baseline.
 */
export function relChange(l, lTicks, r, rTicks) {
  const a = lTicks ? l / lTicks : 0;
  const b = rTicks ? r / rTicks : 0;
  if (a === 0) return b === 0 ? 0 : Infinity;
  return (b - a) / a;
}
