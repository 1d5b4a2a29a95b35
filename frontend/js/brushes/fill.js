// Fill: flood-fills the clicked area (colours within a tolerance) with the tool colour. The board
// draws at the model's resolution, where a stroke's anti-aliased edge is a whole pixel wide: the
// pixels bordering the filled area are recoloured in proportion to the filled colour they hold
// (coverage), so a filled outline leaves no halo of the old colour.
const TOLERANCE = 48;  // summed RGB difference still counted as "the same colour"

function parseColor(css) {
  const c = document.createElement('canvas').getContext('2d');
  c.fillStyle = css;
  const hex = c.fillStyle;  // normalised to #rrggbb
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

const rgbAt = (d, k) => [d[k * 4], d[k * 4 + 1], d[k * 4 + 2]];

// The pixels connected to k0 whose colour is within TOLERANCE of `target`: 1 in the result.
function region(d, w, h, k0, target) {
  const same = (k) => Math.abs(d[k * 4] - target[0]) + Math.abs(d[k * 4 + 1] - target[1]) + Math.abs(d[k * 4 + 2] - target[2]) <= TOLERANCE;
  const inside = new Uint8Array(w * h), seen = new Uint8Array(w * h);
  const stack = [k0];
  while (stack.length) {
    const k = stack.pop();
    if (seen[k]) continue;
    seen[k] = 1;
    if (!same(k)) continue;
    inside[k] = 1;
    const x = k % w;
    if (x > 0) stack.push(k - 1);
    if (x < w - 1) stack.push(k + 1);
    if (k >= w) stack.push(k - w);
    if (k < w * (h - 1)) stack.push(k + w);
  }
  return inside;
}

// How much of `target` the pixel p holds, read as a blend of target and the colour o beside it:
// 0 when that reading fails (o too close to target, or p no blend of the two).
const NEAR = 3 * 24 * 24;  // squared RGB distance still counted as "close"

function coverage(p, o, target) {
  const span = target.map((t, i) => t - o[i]);
  const length2 = span.reduce((s, v) => s + v * v, 0);
  if (length2 < NEAR) return 0;
  const a = Math.max(0, Math.min(1, span.reduce((s, v, i) => s + v * (p[i] - o[i]), 0) / length2));
  const off = p.reduce((s, v, i) => s + (v - o[i] - a * span[i]) ** 2, 0);  // from the blend line
  return off < NEAR ? a : 0;
}

// Whether the unfilled pixel k touches the filled area (4-neighbours): an edge pixel.
function onEdge(inside, w, h, k) {
  const x = k % w;
  return (x > 0 && inside[k - 1]) || (x < w - 1 && inside[k + 1]) || (k >= w && inside[k - w]) || (k < w * (h - 1) && inside[k + w]);
}

// The colour an edge pixel blends into: the unfilled pixel within 2 px least like target (the
// core of the stroke that bounds the fill).
function otherColor(before, inside, w, h, k, target) {
  const x0 = k % w, y0 = (k - x0) / w;
  let best = null, bestDistance = -1;
  for (let y = Math.max(0, y0 - 2); y <= Math.min(h - 1, y0 + 2); y += 1) {
    for (let x = Math.max(0, x0 - 2); x <= Math.min(w - 1, x0 + 2); x += 1) {
      const c = rgbAt(before, y * w + x);
      const distance = c.reduce((s, v, i) => s + (v - target[i]) ** 2, 0);
      if (!inside[y * w + x] && distance > bestDistance) [best, bestDistance] = [c, distance];
    }
  }
  return best;
}

export function floodFill(ctx, x0, y0, rgb) {
  const { width: w, height: h } = ctx.canvas;
  const img = ctx.getImageData(0, 0, w, h);
  const d = img.data, before = d.slice();  // edges are read from the colours before the fill
  const target = rgbAt(before, y0 * w + x0);
  const inside = region(before, w, h, y0 * w + x0, target);
  for (let k = 0; k < w * h; k += 1) {
    if (inside[k]) {
      d.set([rgb[0], rgb[1], rgb[2], 255], k * 4);
      continue;
    }
    const a = onEdge(inside, w, h, k) ? coverage(rgbAt(before, k), otherColor(before, inside, w, h, k, target), target) : 0;
    for (let i = 0; a > 0 && i < 3; i += 1) d[k * 4 + i] = Math.round(before[k * 4 + i] + a * (rgb[i] - target[i]));
  }
  ctx.putImageData(img, 0, 0);
}

export const fill = {
  name: 'fill',
  strokeStart(ctx, p, tool) {
    const x = Math.max(0, Math.min(ctx.canvas.width - 1, Math.floor(p.x)));
    const y = Math.max(0, Math.min(ctx.canvas.height - 1, Math.floor(p.y)));
    floodFill(ctx, x, y, parseColor(tool.color));
  },
  stroke() {},
  strokeEnd() {},
};
