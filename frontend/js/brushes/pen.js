// Pen: round strokes in the tool colour. Same interface as every brush (Harmony style).
export const pen = {
  name: 'pen',
  strokeStart(ctx, p, tool) {
    ctx.save();
    ctx.globalCompositeOperation = tool.composite || 'source-over';
    ctx.strokeStyle = ctx.fillStyle = tool.color;
    ctx.lineWidth = tool.size;
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.arc(p.x, p.y, tool.size / 2, 0, Math.PI * 2);
    ctx.fill();
    this.last = p;
  },
  stroke(ctx, p) {
    ctx.beginPath();
    ctx.moveTo(this.last.x, this.last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    this.last = p;
  },
  strokeEnd(ctx) {
    ctx.restore();
  },
};
