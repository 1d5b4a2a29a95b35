// Every change of an image's size in the canvas: area-averaged shrinking (halved repeatedly, then a
// last smooth step, so that a shrunk picture is an average rather than a sparse sample), a
// centre-square crop for a square board, and a mask scaled nearest-neighbour so that its region
// keeps hard pixel edges at any size.

export const naturalSize = (img) => ({ width: img.naturalWidth || img.width, height: img.naturalHeight || img.height });

export function canvas(width, height = width) {
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  return c;
}

// A canvas of w x h holding src (a region sx, sy, sw, sh of it when given), scaled smoothly or not.
function drawn(src, w, h, smooth, region = null) {
  const c = canvas(w, h);
  const ctx = c.getContext('2d');
  ctx.imageSmoothingEnabled = smooth;
  ctx.imageSmoothingQuality = 'high';
  if (region) ctx.drawImage(src, ...region, 0, 0, w, h);
  else ctx.drawImage(src, 0, 0, w, h);
  return c;
}

// A canvas of w x h holding img, area-averaged (halved repeatedly, then a last smooth step).
export function shrink(img, w, h) {
  let cur = img, { width: cw, height: ch } = naturalSize(img);
  while (cw / 2 >= w && ch / 2 >= h) {
    [cw, ch] = [Math.round(cw / 2), Math.round(ch / 2)];
    cur = drawn(cur, cw, ch, true);
  }
  return cw === w && ch === h && cur !== img ? cur : drawn(cur, w, h, true);
}

// Any image -> its centre square at size x size: area-averaged down, or smoothly scaled up.
export function centreSquare(img, size) {
  const { width: w, height: h } = naturalSize(img), side = Math.min(w, h);
  const big = Math.max(size, Math.min(side, size * 8));  // at most 8x the size: halved 3 times at most
  const square = drawn(img, big, big, side !== big, [(w - side) / 2, (h - side) / 2, side, side]);
  return shrink(square, size, size);
}

// A mask layer (a canvas, brushed where alpha > 0) as a data URL of w x h, scaled nearest-neighbour:
// white and opaque where brushed, transparent elsewhere (reads as 1/0 by luminance or alpha).
export function maskAt(layer, w, h) {
  const c = drawn(layer, w, h, false);
  const ctx = c.getContext('2d');
  ctx.globalCompositeOperation = 'source-in';
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  return c.toDataURL('image/png');
}
