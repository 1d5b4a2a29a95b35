// Fill: flood-fills the clicked area (colours within a tolerance) with the tool colour.
const TOLERANCE = 48;  // summed RGB difference still counted as "the same colour"

function parseColor(css) {
  const c = document.createElement('canvas').getContext('2d');
  c.fillStyle = css;
  const hex = c.fillStyle;  // normalised to #rrggbb
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

export function floodFill(ctx, x0, y0, rgb) {
  const { width: w, height: h } = ctx.canvas;
  const img = ctx.getImageData(0, 0, w, h);
  const d = img.data;
  const start = (y0 * w + x0) * 4;
  const target = [d[start], d[start + 1], d[start + 2]];
  const same = (i) => Math.abs(d[i] - target[0]) + Math.abs(d[i + 1] - target[1]) + Math.abs(d[i + 2] - target[2]) <= TOLERANCE;
  const seen = new Uint8Array(w * h);
  const stack = [x0 + y0 * w];
  while (stack.length) {
    const k = stack.pop();
    if (seen[k]) continue;
    seen[k] = 1;
    if (!same(k * 4)) continue;
    d.set([rgb[0], rgb[1], rgb[2], 255], k * 4);
    const x = k % w, y = (k - x) / w;
    if (x > 0) stack.push(k - 1);
    if (x < w - 1) stack.push(k + 1);
    if (y > 0) stack.push(k - w);
    if (y < h - 1) stack.push(k + w);
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
