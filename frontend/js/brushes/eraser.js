// Eraser: on the picture it paints the background colour; on a mask it removes the region.
import { pen } from './pen.js';

export const eraser = {
  name: 'eraser',
  strokeStart(ctx, p, tool) {
    const onMask = tool.layer === 'mask';
    pen.strokeStart(ctx, p, {
      ...tool,
      color: onMask ? '#000' : tool.background,
      composite: onMask ? 'destination-out' : 'source-over',
    });
  },
  stroke(ctx, p) { pen.stroke(ctx, p); },
  strokeEnd(ctx) { pen.strokeEnd(ctx); },
};
