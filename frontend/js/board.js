// A drawing board: two offscreen layers (picture and mask) at a working resolution of
// SCALE x the model's input size, shown on a devicePixelRatio-aware canvas, with undo/redo.
// Strokes go into the offscreen layers; what is sent is downscaled to the model's input size.
import { brushes } from './brushes/index.js';

export const SCALE = 8;          // working pixels per model pixel: smooth strokes, crisp results
const HISTORY = 40;              // undo steps kept
export const MAX_BRUSH = 12;     // brush diameter limits, in model pixels
export const MIN_BRUSH = 0.5;
const MASK_RGB = '255, 45, 120'; // overlay colour of the brushed region

function layer(size) {
  const c = document.createElement('canvas');
  c.width = c.height = size;
  return c;
}

export class Board {
  constructor(host, { inputSize = 32, background = '#ffffff', label = 'Drawing canvas' } = {}) {
    this.background = background;
    this.tool = { brush: 'pen', layer: 'image', color: '#1f2937', size: 3 };  // size in model px
    this.listeners = new Set();
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'board-canvas';
    this.canvas.setAttribute('aria-label', label);
    this.canvas.setAttribute('role', 'img');
    host.append(this.canvas);
    this.setInputSize(inputSize, false);
    this.clear(false);
    this.bindPointer();
    new ResizeObserver(() => this.fit()).observe(this.canvas);
  }

  // ---- layers and size ------------------------------------------------------------------------
  // A new model size rescales the picture and the mask; the history (other sizes) is dropped.
  setInputSize(n, keep = true) {
    const old = { image: this.image, mask: this.mask };
    this.inputSize = n;
    this.size = n * SCALE;
    this.image = layer(this.size);
    this.mask = layer(this.size);
    this.ictx = this.image.getContext('2d', { willReadFrequently: true });
    this.mctx = this.mask.getContext('2d', { willReadFrequently: true });
    this.ictx.fillStyle = this.background;
    this.ictx.fillRect(0, 0, this.size, this.size);
    if (keep && old.image) {
      this.ictx.drawImage(old.image, 0, 0, this.size, this.size);
      this.mctx.drawImage(old.mask, 0, 0, this.size, this.size);
    }
    this.undoStack = [];
    this.redoStack = [];
    this.render();
  }

  fit() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    if (this.canvas.width !== w) this.canvas.width = this.canvas.height = w;
    this.render();
  }

  render() {
    const ctx = this.canvas.getContext('2d');
    const w = this.canvas.width;
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, w, w);
    ctx.drawImage(this.image, 0, 0, w, w);
    if (this.showMask !== false) {
      ctx.save();
      ctx.globalAlpha = 0.55;
      ctx.drawImage(this.mask, 0, 0, w, w);
      ctx.restore();
    }
    if (this.hover && this.tool.brush !== 'fill') {
      const r = (this.tool.size * SCALE * w) / this.size / 2;
      ctx.beginPath();
      ctx.arc(this.hover.x * w / this.size, this.hover.y * w / this.size, r, 0, Math.PI * 2);
      ctx.lineWidth = Math.max(1, w / 400);
      ctx.strokeStyle = 'rgba(255,255,255,0.9)';
      ctx.stroke();
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = 'rgba(0,0,0,0.8)';
      ctx.stroke();
    }
  }

  // ---- pointer input (mouse, pen and touch) ----------------------------------------------------
  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * this.size, y: ((e.clientY - r.top) / r.height) * this.size };
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
    return { ...this.tool, color, size: this.tool.size * SCALE, background: this.background };
  }

  setTool(patch) {
    Object.assign(this.tool, patch);
    this.tool.size = Math.max(MIN_BRUSH, Math.min(MAX_BRUSH, this.tool.size));
    this.render();
    this.emit();
  }

  // ---- history ---------------------------------------------------------------------------------
  state() {
    return { image: this.ictx.getImageData(0, 0, this.size, this.size), mask: this.mctx.getImageData(0, 0, this.size, this.size) };
  }

  restore(s) {
    this.ictx.putImageData(s.image, 0, 0);
    this.mctx.putImageData(s.mask, 0, 0);
    this.render();
    this.changed();
  }

  snapshot() {
    this.undoStack.push(this.state());
    if (this.undoStack.length > HISTORY) this.undoStack.shift();
    this.redoStack = [];
  }

  undo() {
    if (!this.undoStack.length) return false;
    this.redoStack.push(this.state());
    this.restore(this.undoStack.pop());
    return true;
  }

  redo() {
    if (!this.redoStack.length) return false;
    this.undoStack.push(this.state());
    this.restore(this.redoStack.pop());
    return true;
  }

  // ---- edits -------------------------------------------------------------------------------------
  clear(record = true) {
    if (record) this.snapshot();
    this.ictx.fillStyle = this.background;
    this.ictx.fillRect(0, 0, this.size, this.size);
    this.mctx.clearRect(0, 0, this.size, this.size);
    this.render();
    this.changed();
  }

  clearMask(record = true) {
    if (record) this.snapshot();
    this.mctx.clearRect(0, 0, this.size, this.size);
    this.render();
    this.changed();
  }

  // Draw an image (URL or element) as the picture, centre-cropped to a square at the model's
  // resolution and shown pixel-crisp: the board shows exactly what the model will get. Undoable.
  async load(src, { keepMask = false } = {}) {
    const img = typeof src === 'string' ? await loadImage(src) : src;
    this.snapshot();
    this.ictx.imageSmoothingEnabled = false;
    this.ictx.drawImage(squareCanvas(img, this.inputSize), 0, 0, this.size, this.size);
    this.ictx.imageSmoothingEnabled = true;
    if (!keepMask) this.mctx.clearRect(0, 0, this.size, this.size);
    this.hasPicture = true;
    this.render();
    this.changed();
  }

  // ---- export at the model's resolution ---------------------------------------------------------
  imageDataURL(size = this.inputSize) {
    return downscale(this.image, size).toDataURL('image/png');
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
    const d = this.mctx.getImageData(0, 0, this.size, this.size).data;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 16) return false;
    return true;
  }

  // True while the picture is one flat colour (nothing drawn or loaded that would survive a send).
  isBlank() {
    const d = this.ictx.getImageData(0, 0, this.size, this.size).data;
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

function downscale(src, size) {
  // Halve repeatedly, then a last step: a smooth area average rather than a sparse sample.
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
  out.getContext('2d').drawImage(cur, 0, 0, size, size);
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

// Any image -> its centre square, area-averaged down to size x size.
function squareCanvas(img, size) {
  const w = img.naturalWidth || img.width, h = img.naturalHeight || img.height;
  const side = Math.min(w, h);
  const big = layer(Math.max(size, Math.min(side, size * SCALE)));
  const ctx = big.getContext('2d');
  ctx.imageSmoothingEnabled = side > big.width;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(img, (w - side) / 2, (h - side) / 2, side, side, 0, 0, big.width, big.height);
  return downscale(big, size);
}

// What the model gets from any image: a centre-cropped size x size PNG data URL.
export function squareDataURL(img, size) {
  return squareCanvas(img, size).toDataURL('image/png');
}
