// A drawing board: two offscreen layers (picture and mask) at the model's input size, so what is
// drawn is exactly what is sent, shown on a devicePixelRatio-aware canvas (pixel-crisp for tiny
// models, smoothly scaled for larger ones), with an undo history bounded in bytes (history.js).
// A photo board (inpaint, paint) holds a loaded photo whole, at its aspect ratio: its layers have
// the model's input size on their long side, and it sends the photo itself at its own resolution
// with the mask scaled up to it (photo.js). A sketch board stays square at the model's size.
import { brushes } from './brushes/index.js';
import { crisp } from './display.js';
import { History } from './history.js';
import { RESULT_MAX, fitHint, fitSize, maskAt, naturalSize, photoDataURL, shrink } from './photo.js';

// Brush sizes are given for a picture REFERENCE_SIZE px wide and scale with the model's input
// size, so a brush covers the same share of the picture on a 32-px and on a 224-px model.
export const REFERENCE_SIZE = 32;
export const BRUSH = { min: 0.5, max: 12, step: 0.5, initial: 3 };
const MASK_RGB = '255, 45, 120'; // overlay colour of the brushed region

function layer(width, height = width) {
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  return c;
}

// The layers' size for a photo: its aspect ratio, the long side n.
function photoLayers(img, n) {
  const { width: w, height: h } = naturalSize(img), k = n / Math.max(w, h);
  return { width: Math.max(1, Math.round(w * k)), height: Math.max(1, Math.round(h * k)) };
}

export class Board {
  // brush: the initial brush diameter, in pixels of a REFERENCE_SIZE picture.
  // photos: a photo board (see above).
  constructor(host, { inputSize = 32, background = '#ffffff', label = 'Drawing canvas', brush = BRUSH.initial, photos = false } = {}) {
    this.background = background;
    this.photos = photos;
    this.photo = null;  // {img, src}: the loaded photo, at its own size (photo boards only)
    this.host = host;
    this.tool = { brush: 'pen', layer: 'image', color: '#1f2937', size: brush };  // size in model px
    this.listeners = new Set();
    this.history = new History();
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'board-canvas';
    this.canvas.setAttribute('aria-label', label);
    this.canvas.setAttribute('role', 'img');
    host.append(this.canvas);
    this.inputSize = REFERENCE_SIZE;  // so that the first setInputSize scales the brush from it
    this.setInputSize(inputSize, false);
    this.clear(false);
    this.bindPointer();
    new ResizeObserver(() => this.fit()).observe(this.canvas);
  }

  // ---- layers and size ------------------------------------------------------------------------
  // A new model size resamples the picture (a photo board: redraws its photo) and the mask and
  // scales the brush with them; the history (other sizes) is dropped.
  setInputSize(n, keep = true) {
    if (this.image && n === this.inputSize) return;
    const old = { image: this.image, mask: this.mask }, scale = n / this.inputSize;
    this.inputSize = n;
    const { width, height } = this.photo ? photoLayers(this.photo.img, n) : { width: n, height: n };
    this.makeLayers(width, height);
    if (keep && old.image) {
      for (const ctx of [this.ictx, this.mctx]) ctx.imageSmoothingQuality = 'high';
      this.ictx.drawImage(this.photo ? shrink(this.photo.img, width, height) : old.image, 0, 0, width, height);
      this.mctx.drawImage(old.mask, 0, 0, width, height);
    }
    this.tool.size = this.clampBrush(this.tool.size * scale);
    this.history.clear();
    this.render();
    this.emit();
  }

  // Fresh layers of width x height (the picture filled with the background); the stage takes
  // their aspect ratio.
  makeLayers(width, height) {
    this.image = layer(width, height);
    this.mask = layer(width, height);
    this.ictx = this.image.getContext('2d', { willReadFrequently: true });
    this.mctx = this.mask.getContext('2d', { willReadFrequently: true });
    this.ictx.fillStyle = this.background;
    this.ictx.fillRect(0, 0, width, height);
    this.host.style.setProperty('--aspect', String(width / height));
    this.fit();
  }

  get width() { return this.image.width; }

  get height() { return this.image.height; }

  fit() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round((w * this.height) / this.width));
    if (this.canvas.width !== w || this.canvas.height !== h) [this.canvas.width, this.canvas.height] = [w, h];
    this.render();
  }

  render() {
    if (!this.ictx) return;  // still being built
    const ctx = this.canvas.getContext('2d');
    const { width: w, height: h } = this.canvas;
    // a photo board shows its photo at the photo's own resolution (the picture layer is its
    // model-size copy: nothing draws on it there)
    const picture = this.photo?.img ?? this.image, side = naturalSize(picture);
    ctx.imageSmoothingEnabled = !crisp(Math.min(side.width, side.height));
    ctx.imageSmoothingQuality = 'high';
    ctx.clearRect(0, 0, w, h);
    ctx.drawImage(picture, 0, 0, w, h);
    ctx.save();
    ctx.globalAlpha = 0.55;
    ctx.drawImage(this.mask, 0, 0, w, h);
    ctx.restore();
    if (this.hover && this.tool.brush !== 'fill') this.drawCursor(ctx, w);
  }

  // The brush outline under the mouse, at its true size.
  drawCursor(ctx, w) {
    const k = w / this.width;
    ctx.beginPath();
    ctx.arc(this.hover.x * k, this.hover.y * k, (this.tool.size * k) / 2, 0, Math.PI * 2);
    ctx.lineWidth = Math.max(1, w / 400);
    ctx.strokeStyle = 'rgba(255,255,255,0.9)';
    ctx.stroke();
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = 'rgba(0,0,0,0.8)';
    ctx.stroke();
    ctx.setLineDash([]);
  }

  // ---- pointer input (mouse, pen and touch) ----------------------------------------------------
  // Where a pointer event falls, in model pixels.
  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * this.width, y: ((e.clientY - r.top) / r.height) * this.height };
  }

  bindPointer() {
    const c = this.canvas;
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || this.disabled) return;
      e.preventDefault();
      try { c.setPointerCapture(e.pointerId); } catch { /* synthetic or already-gone pointer */ }
      this.snapshot();
      this.active = brushes[this.tool.brush];
      this.active.strokeStart(this.ctxFor(), this.point(e), this.toolState());
      this.render();
    });
    c.addEventListener('pointermove', (e) => {
      this.hover = e.pointerType === 'touch' ? null : this.point(e);
      if (this.active) {
        const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
        for (const ev of events.length ? events : [e]) this.active.stroke(this.ctxFor(), this.point(ev));
      }
      this.render();
    });
    const end = () => {
      if (!this.active) return;
      this.active.strokeEnd(this.ctxFor());
      this.active = null;
      this.render();
      this.changed();
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('pointerleave', () => { this.hover = null; this.render(); });
  }

  ctxFor() { return this.tool.layer === 'mask' ? this.mctx : this.ictx; }

  toolState() {
    const color = this.tool.layer === 'mask' ? `rgb(${MASK_RGB})` : this.tool.color;
    return { ...this.tool, color, background: this.background };
  }

  // ---- tools and brush sizes -------------------------------------------------------------------
  setTool(patch) {
    Object.assign(this.tool, patch);
    this.tool.size = this.clampBrush(this.tool.size);
    this.render();
    this.emit();
  }

  // The brush size range and step at this model's size, in model pixels.
  brushLimits() {
    const k = this.inputSize / REFERENCE_SIZE;
    return { min: BRUSH.min * k, max: BRUSH.max * k, step: BRUSH.step * k };
  }

  clampBrush(size) {
    const { min, max, step } = this.brushLimits();
    return Math.max(min, Math.min(max, Math.round(size / step) * step));
  }

  // One step bigger (+1) or smaller (-1): the [ and ] keys.
  stepBrush(direction) { this.setTool({ size: this.tool.size + direction * this.brushLimits().step }); }

  // ---- history ---------------------------------------------------------------------------------
  // The layers, and the photo they show (photo boards): an undo can go back to another photo.
  state() {
    const { width: w, height: h } = this;
    return { image: this.ictx.getImageData(0, 0, w, h), mask: this.mctx.getImageData(0, 0, w, h), photo: this.photo };
  }

  restore(s) {
    if (s.image.width !== this.width || s.image.height !== this.height) this.makeLayers(s.image.width, s.image.height);
    this.photo = s.photo ?? null;
    this.ictx.putImageData(s.image, 0, 0);
    this.mctx.putImageData(s.mask, 0, 0);
    this.render();
    this.changed();
  }

  snapshot() { this.history.push(this.state()); }

  undo() {
    if (!this.history.canUndo()) return false;
    this.restore(this.history.undo(this.state()));
    return true;
  }

  redo() {
    if (!this.history.canRedo()) return false;
    this.restore(this.history.redo(this.state()));
    return true;
  }

  // ---- edits -------------------------------------------------------------------------------------
  clear(record = true) {
    if (record) this.snapshot();
    this.ictx.fillStyle = this.background;
    this.ictx.fillRect(0, 0, this.width, this.height);
    this.mctx.clearRect(0, 0, this.width, this.height);
    this.render();
    this.changed();
  }

  clearMask(record = true) {
    if (record) this.snapshot();
    this.mctx.clearRect(0, 0, this.width, this.height);
    this.render();
    this.changed();
  }

  // Draw an image (URL or element) as the picture; the mask is cleared. Undoable. A sketch board
  // centre-crops it to a square at the model's resolution (the board shows exactly what the model
  // gets); a photo board keeps the photo whole (see above).
  async load(src) {
    const img = typeof src === 'string' ? await loadImage(src) : src;
    this.snapshot();
    if (this.photos) {
      this.photo = { img, src: typeof src === 'string' ? src : null };
      const { width, height } = photoLayers(img, this.inputSize);
      if (width !== this.width || height !== this.height) this.makeLayers(width, height);
      this.ictx.drawImage(shrink(img, width, height), 0, 0);
    } else {
      this.ictx.drawImage(squareCanvas(img, this.inputSize), 0, 0);
    }
    this.mctx.clearRect(0, 0, this.width, this.height);
    this.hasPicture = true;
    this.render();
    this.changed();
  }

  // ---- export ----------------------------------------------------------------------------------
  // The picture at the model's resolution (a sketch board's image).
  imageDataURL(size = this.inputSize) {
    if (this.width !== this.height) return this.image.toDataURL('image/png');
    return downscale(this.image, size).toDataURL('image/png');
  }

  // What a photo board sends: the photo itself at its own resolution, shrunk only past the longest
  // side the server makes results at (photo.js); without a photo, the picture.
  maxSide() { return RESULT_MAX * this.inputSize; }

  photoDataURL() {
    return this.photo ? photoDataURL(this.photo.img, this.photo.src, this.maxSide()) : this.imageDataURL();
  }

  // The mask at the size photoDataURL has: the drawn one scaled up nearest-neighbour.
  photoMaskDataURL() {
    if (!this.photo) return this.maskDataURL();
    const { width, height } = naturalSize(this.photo.img), fit = fitSize(width, height, this.maxSide());
    return maskAt(this.mask, fit.width, fit.height);
  }

  // Says when the photo is shrunk to fit the server ('' when it goes at its own size).
  fitHint() {
    return this.photo ? fitHint(this.photo.img, this.maxSide(),
      `this server's results for this model are at most ${this.maxSide()} px a side`) : '';
  }

  // White, opaque where brushed; transparent elsewhere (reads as 1/0 by luminance or alpha).
  maskDataURL(size = this.inputSize) {
    const c = downscale(this.mask, size);
    const ctx = c.getContext('2d');
    ctx.globalCompositeOperation = 'source-in';
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, size, size);
    return c.toDataURL('image/png');
  }

  maskIsEmpty() {
    const d = this.mctx.getImageData(0, 0, this.width, this.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 16) return false;
    return true;
  }

  // True while the picture is one flat colour (nothing drawn or loaded that would survive a send).
  isBlank() {
    const d = this.ictx.getImageData(0, 0, this.width, this.height).data;
    for (let i = 4; i < d.length; i += 4) {
      if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return false;
    }
    return true;
  }

  // ---- change notification -----------------------------------------------------------------------
  onChange(fn) { this.listeners.add(fn); }
  emit() { for (const fn of this.listeners) fn(this); }
  changed() { this.emit(); }
}

// A copy of a square canvas at size x size: halved repeatedly, then a last step, so shrinking
// is a smooth area average rather than a sparse sample.
function downscale(src, size) {
  let cur = src;
  while (cur.width / 2 >= size) {
    const next = layer(cur.width / 2);
    const ctx = next.getContext('2d');
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(cur, 0, 0, next.width, next.height);
    cur = next;
  }
  if (cur.width === size && cur !== src) return cur;
  const out = layer(size);
  const ctx = out.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(cur, 0, 0, size, size);
  return out;
}

export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('That file is not an image the browser can read.'));
    img.src = src;
  });
}

// Any image -> its centre square, area-averaged down (or smoothly scaled up) to size x size.
function squareCanvas(img, size) {
  const w = img.naturalWidth || img.width, h = img.naturalHeight || img.height;
  const side = Math.min(w, h);
  const big = layer(Math.max(size, Math.min(side, size * 8)));
  const ctx = big.getContext('2d');
  ctx.imageSmoothingEnabled = side !== big.width;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(img, (w - side) / 2, (h - side) / 2, side, side, 0, 0, big.width, big.height);
  return downscale(big, size);
}
