// How pictures are scaled on screen: pixel-crisp while they are tiny (a 32-px CIFAR-10 image is
// a handful of pixels, and smoothing would only blur them), smoothly from SMOOTH_FROM px on (a
// 128-px photo shown 3x larger would otherwise look like a mosaic).
export const SMOOTH_FROM = 64;

export const crisp = (side) => side > 0 && side < SMOOTH_FROM;

// Keeps an <img>'s scaling right for whatever picture it shows (now and after each new src).
export function scaleNicely(img) {
  const update = () => img.classList.toggle('pixelated', crisp(Math.min(img.naturalWidth, img.naturalHeight)));
  img.addEventListener('load', update);
  if (img.complete) update();
  return img;
}

// Class names are identifiers ("english_springer"); people read "english springer".
export const pretty = (name) => String(name).replace(/_/g, ' ');
