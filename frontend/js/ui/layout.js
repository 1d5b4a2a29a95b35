// The common page layout of a mode: a heading with a one-line explanation, then two panels.
import { on } from '../bus.js';
import { inputSize } from '../store.js';
import { scaleNicely } from '../display.js';
import { h } from './dom.js';

// wide: 'right' gives the right panel (e.g. a grid of results) the larger share.
export function layout(section, { title, intro, left, right, wide = 'left' }) {
  section.append(
    h('div.mode-intro', {}, h('h2', {}, title), h('p', {}, intro)),
    h(`div.workspace.wide-${wide}`, {},
      h('div.panel.panel-left', {}, ...left),
      h('div.panel.panel-right', {}, ...right)));
}

export function step(n, text) {
  return h('h3.step', {}, h('span.step-n', {}, String(n)), text);
}

// A square stage for a board, with a hint shown until there is a picture.
export function stage(hint) {
  const note = hint ? h('div.stage-hint', {}, hint) : null;
  const el = h('div.stage', {}, note);
  return { el, hideHint: (hidden = true) => note && (note.hidden = hidden) };
}

// A view of a source image (translate, upscale), pixel-crisp while it is tiny. sentSide(img):
// the side of the square the mode sends, for the caption; onLoad(): a new picture is shown.
export function sourceView(empty, { sentSide = () => inputSize(), onLoad = () => {} } = {}) {
  const img = scaleNicely(h('img', { alt: 'Source image', hidden: true }));
  const size = h('small.true-size');
  const placeholder = h('div.placeholder', {}, empty);
  const caption = () => {
    if (img.hidden || !img.naturalWidth) return;
    const n = sentSide(img), same = img.naturalWidth === n && img.naturalHeight === n;
    size.textContent = `${img.naturalWidth} × ${img.naturalHeight} px${same ? '' : ` · the model gets ${n} × ${n} (centre square)`}`;
  };
  img.addEventListener('load', caption);
  img.addEventListener('load', onLoad);
  on('model', caption);
  const el = h('figure.source-view', {}, placeholder, img, h('figcaption', {}, size));
  return {
    el,
    set(src) { img.src = src; img.hidden = false; placeholder.hidden = true; },
    get: () => (img.hidden ? null : img),
  };
}
