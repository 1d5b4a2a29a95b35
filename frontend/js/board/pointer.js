// A board's pointer input (mouse, pen and touch at once): strokes of the chosen brush on the
// chosen layer, in model pixels, and the brush outline under the mouse.
import { brushes } from '../brushes/index.js';

const MASK_RGB = '255, 45, 120'; // overlay colour of the brushed region

// Where a pointer event falls on the board, in model pixels.
function point(board, e) {
  const r = board.canvas.getBoundingClientRect();
  return { x: ((e.clientX - r.left) / r.width) * board.width, y: ((e.clientY - r.top) / r.height) * board.height };
}

const layerOf = (board) => (board.tool.layer === 'mask' ? board.mctx : board.ictx);

// The brush's settings for a stroke: on the mask it paints the overlay colour.
function toolState(board) {
  const color = board.tool.layer === 'mask' ? `rgb(${MASK_RGB})` : board.tool.color;
  return { ...board.tool, color, background: board.background };
}

export function bindPointer(board) {
  const c = board.canvas;
  let active = null;  // the brush of the stroke under way
  c.addEventListener('pointerdown', (e) => {
    if (e.button !== 0 || board.disabled) return;
    e.preventDefault();
    try { c.setPointerCapture(e.pointerId); } catch { /* synthetic or already-gone pointer */ }
    board.snapshot();
    active = brushes[board.tool.brush];
    active.strokeStart(layerOf(board), point(board, e), toolState(board));
    board.render();
  });
  c.addEventListener('pointermove', (e) => {
    board.hover = e.pointerType === 'touch' ? null : point(board, e);
    if (active) {
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
      for (const ev of events.length ? events : [e]) active.stroke(layerOf(board), point(board, ev));
    }
    board.render();
  });
  const end = () => {
    if (!active) return;
    active.strokeEnd(layerOf(board));
    active = null;
    board.render();
    board.changed();
  };
  c.addEventListener('pointerup', end);
  c.addEventListener('pointercancel', end);
  c.addEventListener('pointerleave', () => { board.hover = null; board.render(); });
}

// The brush outline at p (model pixels), its true size; k: stage pixels per model pixel.
export function drawCursor(ctx, p, size, k) {
  ctx.beginPath();
  ctx.arc(p.x * k, p.y * k, (size * k) / 2, 0, Math.PI * 2);
  ctx.lineWidth = Math.max(1, ctx.canvas.width / 400);
  ctx.strokeStyle = 'rgba(255,255,255,0.9)';
  ctx.stroke();
  ctx.setLineDash([4, 4]);
  ctx.strokeStyle = 'rgba(0,0,0,0.8)';
  ctx.stroke();
  ctx.setLineDash([]);
}
