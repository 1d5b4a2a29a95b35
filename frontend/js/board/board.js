// A drawing board: two offscreen layers (picture and mask) at the model's input size, so what is
// drawn is exactly what is sent, shown on a devicePixelRatio-aware canvas (pixel-crisp for tiny
// models, smoothly scaled for larger ones), with an undo history bounded in bytes (history.js).
// This board is square at the model's size (sketch); a photo board (photo-board.js) overrides the
// hooks marked below to hold a loaded photo whole. Pointer input is pointer.js's.
import { crisp } from '../display.js';
import { History } from '../history.js';
import { loadImage } from '../images.js';
import { canvas, centreSquare, maskAt, naturalSize } from '../resample.js';
import { bindPointer, drawCursor } from './pointer.js';

// Brush sizes are given for a picture REFERENCE_SIZE px wide and scale with the model's input
// size, so a brush covers the same share of the picture on a 32-px and on a 224-px model.
export const REFERENCE_SIZE = 32;
export const BRUSH = { min: 0.5, max: 12, step: 0.5, initial: 3 };

export class Board {
  // brush: the initial brush diameter, in pixels of a REFERENCE_SIZE picture.
  constructor(host, { inputSize = 32, background = '#ffffff', label = 'Drawing canvas', brush = BRUSH.initial } = {}) {
    this.background = background;
    this.host = host;
    this.tool = { brush: 'pen', layer: 'image', color: '#1f2937', size: brush };  // size in model px
    this.disabled = false;  // strokes are refused while true (setDisabled)
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
    bindPointer(this);
    new ResizeObserver(() => this.fit()).observe(this.canvas);
  }

  // ---- hooks a photo board overrides -------------------------------------------------------------
  // The layers' size at model size n.
  layerSize(n) { return { width: n, height: n }; }

  // The picture at the layers' new size width x height, from the old layers (setInputSize).
  redraw(old, width, height) { this.ictx.drawImage(old.image, 0, 0, width, height); }

  // What the stage shows under the mask.
  shown() { return this.image; }

  // A loaded image (src: its URL, or null) as the picture: its centre square at the model's size.
  place(img) { this.ictx.drawImage(centreSquare(img, this.inputSize), 0, 0); }

  // ---- layers and size ------------------------------------------------------------------------
  // A new model size resamples the picture and the mask and scales the brush with them; the
  // history (other sizes) is dropped.
  setInputSize(n, keep = true) {
    if (this.image && n === this.inputSize) return;
    const old = { image: this.image, mask: this.mask }, scale = n / this.inputSize;
    this.inputSize = n;
    const { width, height } = this.layerSize(n);
    this.makeLayers(width, height);
    if (keep && old.image) {
      for (const ctx of [this.ictx, this.mctx]) ctx.imageSmoothingQuality = 'high';
      this.redraw(old, width, height);
      this.mctx.drawImage(old.mask, 0, 0, width, height);
    }
    this.tool.size = this.clampBrush(this.tool.size * scale);
    this.history.clear();
    this.render();
    this.changed();
  }

  // Fresh layers of width x height (the picture filled with the background); the stage takes
  // their aspect ratio.
  makeLayers(width, height) {
    this.image = canvas(width, height);
    this.mask = canvas(width, height);
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
    const picture = this.shown(), side = naturalSize(picture);
    ctx.imageSmoothingEnabled = !crisp(Math.min(side.width, side.height));
    ctx.imageSmoothingQuality = 'high';
    ctx.clearRect(0, 0, w, h);
    ctx.drawImage(picture, 0, 0, w, h);
    ctx.save();
    ctx.globalAlpha = 0.55;
    ctx.drawImage(this.mask, 0, 0, w, h);
    ctx.restore();
    if (this.hover && this.tool.brush !== 'fill') drawCursor(ctx, this.hover, this.tool.size, w / this.width);
  }

  // A board that refuses strokes (e.g. while a result that will replace its picture is made).
  setDisabled(disabled) {
    this.disabled = disabled;
    this.canvas.setAttribute('aria-disabled', String(disabled));
  }

  // ---- tools and brush sizes -------------------------------------------------------------------
  setTool(patch) {
    Object.assign(this.tool, patch);
    this.tool.size = this.clampBrush(this.tool.size);
    this.render();
    this.changed();
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
  state() {
    const { width: w, height: h } = this;
    return { image: this.ictx.getImageData(0, 0, w, h), mask: this.mctx.getImageData(0, 0, w, h) };
  }

  restore(s) {
    if (s.image.width !== this.width || s.image.height !== this.height) this.makeLayers(s.image.width, s.image.height);
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
    this.clearMask(false);
  }

  clearMask(record = true) {
    if (record) this.snapshot();
    this.mctx.clearRect(0, 0, this.width, this.height);
    this.render();
    this.changed();
  }

  // Draw an image (URL or element) as the picture (place); the mask is cleared. Undoable.
  async load(src) {
    const img = typeof src === 'string' ? await loadImage(src) : src;
    this.snapshot();
    this.place(img, typeof src === 'string' ? src : null);
    this.clearMask(false);
  }

  // ---- what a mode sends -------------------------------------------------------------------------
  // The picture at the model's input size.
  imageDataURL() { return this.image.toDataURL('image/png'); }

  // The mask at the picture's size: white, opaque where brushed; transparent elsewhere.
  maskDataURL() { return maskAt(this.mask, this.width, this.height); }

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

  changed() { for (const fn of this.listeners) fn(this); }
}
