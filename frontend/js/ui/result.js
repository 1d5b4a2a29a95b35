// The result view of a mode: one image or a grid of them, previews while a job runs, what made
// them (the job's recipe), and for the chosen image its size, a download link and "Edit in".
// Images are shown at a comfortable size that fits the screen (CSS), pixel-crisp only while tiny
// (display.js); a single result can be compared with the input it was made from (a slider).
import { classes } from '../store.js';
import { crisp, pretty, scaleNicely } from '../display.js';
import { h } from './dom.js';
import { openInButtons } from './gallery.js';

// The model's reading of image i of a result, for people ('' when it gave none); the task's note
// instead where it made one (inpaint: "class: none (the model is unsure ...; fill only)").
export function className(result, i) {
  if (result?.notes?.[i]) return result.notes[i];
  if (result?.class_names?.[i]) return pretty(result.class_names[i]);
  const c = result?.classes?.[i];
  if (c === undefined || c === null) return '';
  return pretty(typeof c === 'number' ? (classes()[c] ?? String(c)) : String(c));
}

// "128 × 128 px · shown 3.3×": the true size, and the zoom when it is enlarged.
function sizeCaption(img) {
  const zoom = img.clientWidth && img.naturalWidth
    ? Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight) : 0;
  const shown = zoom > 1.05 ? ` · shown ${Number(zoom.toFixed(zoom < 10 ? 1 : 0))}×` : '';
  return `${img.naturalWidth} × ${img.naturalHeight} px${shown}`;
}

// The image in a frame of its own aspect ratio (CSS fits the frame to the screen), so that a
// "before" layer laid over the frame covers exactly the picture.
function figure(src, caption, i, alt) {
  const img = scaleNicely(h('img', { src, alt: caption || alt }));
  const frame = h('div.frame', {}, img);
  const size = h('small.true-size');
  img.addEventListener('load', () => {
    frame.style.setProperty('--aspect', String(img.naturalWidth / img.naturalHeight));
    size.textContent = sizeCaption(img);
  });
  return h('figure', { dataset: { index: String(i) } }, frame, h('figcaption', {}, caption ? h('span', {}, caption) : null, size));
}

// Before/after: the input (before, a data URL) laid over the result at the same size, shown left
// of the split that the slider moves (0: the result alone, 100: the input alone).
function addCompare(fig, before) {
  const layer = h('div.before', { role: 'img', 'aria-label': 'Your input, before' });
  layer.style.backgroundImage = `url("${before}")`;
  const probe = new Image();
  probe.onload = () => layer.classList.toggle('pixelated', crisp(Math.min(probe.naturalWidth, probe.naturalHeight)));
  probe.src = before;
  const slider = h('input.compare-slider', { type: 'range', min: '0', max: '100', step: '1', value: '0',
    'aria-label': 'Compare: how much of your input to show, from the left' });
  const set = () => {
    fig.style.setProperty('--before', `${slider.value}%`);
    fig.classList.toggle('comparing', slider.value > 0 && slider.value < 100);  // the split line shows
  };
  slider.addEventListener('input', set);
  set();
  fig.querySelector('.frame').append(layer, h('div.split', { 'aria-hidden': 'true' }));
  fig.append(h('label.compare', {}, h('span', {}, 'Before'), slider, h('span', {}, 'After')));
}

export function resultView(options) { return new ResultView(options); }

class ResultView {
  constructor({ task, title = 'Result', empty = 'Your result appears here.', extraActions, except, grid = false }) {
    Object.assign(this, { task, title, extraActions, except, grid, lastPreview: null });
    this.body = h('div.result-body', {}, h('div.placeholder', {}, empty));
    this.actions = h('div.result-actions');
    this.noteEl = h('p.result-note', { hidden: true });
    this.madeWith = h('p.made-with', { hidden: true });
    this.el = h('section.result', { 'aria-label': title }, h('h3', {}, title), this.noteEl, this.body,
      this.madeWith, this.actions);
  }

  // A line above the images ('' hides it), e.g. where a reproduced result came from.
  note(text) {
    this.noteEl.textContent = text;
    this.noteEl.hidden = !text;
  }

  // Show images, with caption(i) under each; preview: the job still runs (no actions yet).
  showAll(images, caption, { preview = false } = {}) {
    this.madeWith.hidden = true;
    this.body.classList.toggle('is-preview', preview);
    this.body.classList.toggle('grid', this.grid && images.length > 1);
    this.body.replaceChildren(...images.map((src, i) => figure(src, caption(i), i, this.title)));
    if (this.grid) this.figures().forEach((f, i) => f.addEventListener('click', () => this.choose(i)));
  }

  figures() { return [...this.body.querySelectorAll('figure')]; }

  // Image i becomes the one the actions (download, edit in...) apply to.
  choose(i) {
    this.figures().forEach((f) => f.classList.toggle('selected', f.dataset.index === String(i)));
    const src = this.figures()[i]?.querySelector('img').src;
    const many = this.grid && this.figures().length > 1;
    this.actions.replaceChildren(...(src ? resultActions(src, i, many, this) : []));
  }

  preview(images, step) {
    this.lastPreview = { images, step };
    const caption = `Preview · step ${step ?? '…'}`;
    const shown = this.body.classList.contains('is-preview') ? this.figures() : [];
    if (shown.length === images.length) {  // swap the pictures in place: no layout jumps
      shown.forEach((f, i) => { f.querySelector('img').src = images[i]; f.querySelector('figcaption span').textContent = caption; });
      return;
    }
    this.showAll(images, () => caption, { preview: true });
    this.actions.replaceChildren();
  }

  // After a stop: the last previews become results that can be downloaded or edited.
  stopped() {
    if (!this.lastPreview) return false;
    const { images, step } = this.lastPreview;
    this.showAll(images, () => `Stopped at step ${step ?? '?'}`);
    this.choose(0);
    this.lastPreview = null;
    return true;
  }

  // recipe: the finished job's recipe, shown as a "Made with" line; before: the image it was made
  // from (a data URL), offered for comparison beside a single result.
  show(result, recipe = null, { before = null } = {}) {
    this.lastPreview = null;
    const images = result.images || [];
    this.showAll(images, (i) => className(result, i) && `Model sees: ${className(result, i)}`);
    if (!images.length) this.body.replaceChildren(h('div.placeholder', {}, 'The job returned no images.'));
    if (before && images.length === 1) addCompare(this.figures()[0], before);
    this.choose(0);
    if (recipe) this.madeWith.replaceChildren(...madeWith(recipe));
    this.madeWith.hidden = !recipe || !images.length;
  }
}

// "Made with tiny · seed 0 · steps 8 · step size 0.5 · eps 30": the model, seed and every
// effective setting (defaults included), as the downloaded PNG's recipe has them.
function madeWith(recipe) {
  const number = (v) => (typeof v === 'number' ? String(Number(v.toPrecision(4))) : String(v));
  const settings = Object.entries(recipe.settings || {}).map(([k, v]) => `${k.replace(/_/g, ' ')} ${number(v)}`);
  const items = [`seed ${recipe.seed}`, ...settings].map((s) => ` · ${s.replace(/ /g, '\u00a0')}`);  // wrap between items only
  return ['Made with ', h('b', {}, recipe.model), items.join('')];
}

function resultActions(src, i, many, { task, extraActions, except }) {
  // The server's PNG as it came (a data URL): its text chunks carry the recipe that reruns it.
  const dl = h('a.button', { href: src, download: `robust-canvas-${task}-${i + 1}.png` }, '⬇ Download PNG');
  return [...(many ? [h('p.hint', {}, 'Click an image to choose it.')] : []), dl,
    ...(extraActions ? extraActions(src) : []), openInButtons(() => src, { except })];
}
