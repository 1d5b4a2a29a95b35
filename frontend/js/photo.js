// Photos at their own resolution: the size a photo goes to the server at, and the photo itself as
// a data URL (resampled by resample.js).
//
// The server's limits (docs/API.md): results come back at the image's own size, their long side at
// most RESULT_MAX times the model's input size (a larger photo is shrunk there by the server
// anyway, so the browser shrinks it first and sends fewer bytes); an image may have at most
// MAX_IMAGE_PIXELS pixels (the default of max_image_pixels; more is a 422). Neither is in
// /api/health or /api/models yet, so they are the documented values.
import { naturalSize, shrink } from './resample.js';

export const RESULT_MAX = 8;
export const MAX_IMAGE_PIXELS = 2048 * 2048;

// The size a w x h photo goes at: its own, or shrunk (never enlarged, aspect kept) so that its long
// side is at most maxSide and it has at most MAX_IMAGE_PIXELS pixels.
export function fitSize(w, h, maxSide) {
  const k = Math.min(1, maxSide / Math.max(w, h), Math.sqrt(MAX_IMAGE_PIXELS / (w * h)));
  if (k >= 1) return { width: w, height: h, scaled: false };
  return { width: Math.max(1, Math.floor(w * k)), height: Math.max(1, Math.floor(h * k)), scaled: true };
}

// The photo as a data URL at fitSize: the very bytes it came as (src, a PNG data URL) when it
// fits, else redrawn (area-averaged when shrunk) and encoded as a PNG, losslessly. A JPEG is
// redrawn too: the browser turns it by its EXIF orientation and the server does not, so its own
// bytes could reach the server sideways (and a mask drawn over it would not fit).
export function photoDataURL(img, src, maxSide) {
  const { width: w, height: h } = naturalSize(img);
  const fit = fitSize(w, h, maxSide);
  if (!fit.scaled && typeof src === 'string' && src.startsWith('data:image/png;')) return src;
  return shrink(img, fit.width, fit.height).toDataURL('image/png');
}

// "This photo is 4000 × 3000 px: it is shrunk to 256 × 192 in the browser (why)." ('' when it fits).
export function fitHint(img, maxSide, why) {
  const { width: w, height: h } = naturalSize(img);
  const fit = fitSize(w, h, maxSide);
  return fit.scaled ? `This photo is ${w} × ${h} px: it is shrunk to ${fit.width} × ${fit.height} in the browser (${why}).` : '';
}
