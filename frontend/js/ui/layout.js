// The common page layout of a mode: a heading with a one-line explanation, then two panels.
import { on } from '../bus.js';
import { inputSize } from '../store.js';
import { scaleNicely } from '../display.js';
import { RESULT_MAX, fitHint, photoDataURL } from '../photo.js';
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

// Under a photo board: says when its photo is shrunk to fit the server (board.fitHint).
export function photoHint(board) {
  const hint = h('p.hint.fit-hint', { hidden: true, role: 'status' });
  const update = () => { hint.textContent = board.fitHint(); hint.hidden = !hint.textContent; };
  board.onChange(update);
  on('model', update);
  return hint;
}

// A view of a source photo (translate, upscale), pixel-crisp while it is tiny, with its size and,
// when it is larger than the server takes, a hint saying what it is shrunk to. maxSide(): the
// longest side the mode sends (photo.js); onLoad(): a new picture is shown. photo() is the data
// URL to send: the photo itself at its own resolution, shrunk only to fit; why(): the limit, in words.
const serverLimit = () => `this server's results for this model are at most ${RESULT_MAX * inputSize()} px a side`;

export function sourceView(empty, { maxSide = () => RESULT_MAX * inputSize(), why = serverLimit, onLoad = () => {} } = {}) {
  const img = scaleNicely(h('img', { alt: 'Source image', hidden: true }));
  const size = h('small.true-size');
  const hint = h('p.hint.fit-hint', { hidden: true, role: 'status' });
  const placeholder = h('div.placeholder', {}, empty);
  let src = null;
  const caption = () => {
    if (img.hidden || !img.naturalWidth) return;
    size.textContent = `${img.naturalWidth} × ${img.naturalHeight} px`;
    hint.textContent = fitHint(img, maxSide(), why());
    hint.hidden = !hint.textContent;
  };
  img.addEventListener('load', caption);
  img.addEventListener('load', onLoad);
  on('model', caption);
  const el = h('figure.source-view', {}, placeholder, img, h('figcaption', {}, size), hint);
  return {
    el,
    set(url) { src = url; img.src = url; img.hidden = false; placeholder.hidden = true; },
    get: () => (img.hidden ? null : img),
    photo: () => (img.hidden ? null : photoDataURL(img, src, maxSide())),
    refresh: caption,
  };
}
