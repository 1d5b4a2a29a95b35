// The gallery: results of earlier jobs (kept in localStorage), a strip at the page bottom,
// a picker dialog for "From gallery…", and the "Open in…" actions shared with result views.
import { emit, on } from '../bus.js';
import { state, clearGallery } from '../store.js';
import { scaleNicely } from '../display.js';
import { h } from './dom.js';

export const OPEN_TARGETS = [
  ['sketch', 'Sketch'], ['paint', 'Paint'], ['inpaint', 'Inpaint'],
  ['superresolve', 'Upscale'], ['translate', 'Translate'],
];

export function openInButtons(getImage, { except = null } = {}) {
  return h('div.open-in', {}, h('span.open-in-label', {}, 'Edit in:'),
    OPEN_TARGETS.filter(([id]) => id !== except).map(([id, label]) => h('button.chip', {
      type: 'button', dataset: { open: id },
      onclick: () => emit('open', { mode: id, image: getImage() }),
    }, label)));
}

function thumb(item, onclick) {
  const img = scaleNicely(h('img', { src: item.image, alt: item.label || 'result', draggable: 'true' }));
  img.addEventListener('dragstart', (e) => e.dataTransfer.setData('application/x-robust-canvas', item.image));
  return h('button.thumb', { type: 'button', title: item.label || '', onclick }, img);
}

export function galleryStrip(root) {
  const list = h('div.gallery-list');
  const actions = h('div.gallery-actions');
  const empty = h('p.hint', {}, 'Results you make appear here. Drag one onto a canvas, or click it to edit it in another mode.');
  let selected = null;
  const render = () => {
    list.replaceChildren(...state.gallery.map((item) => thumb(item, () => select(item))));
    empty.hidden = state.gallery.length > 0;
    if (!state.gallery.includes(selected)) select(null);
  };
  const select = (item) => {
    selected = item;
    [...list.children].forEach((b, i) => b.setAttribute('aria-pressed', String(state.gallery[i] === item)));
    actions.replaceChildren(...(item ? [scaleNicely(h('img.selected-thumb', { src: item.image, alt: '' })),
      openInButtons(() => item.image)] : []));
  };
  root.append(h('div.gallery-head', {}, h('h2', {}, 'Gallery'),
    h('button.link', { type: 'button', onclick: () => clearGallery() }, 'Clear gallery')), empty, list, actions);
  on('gallery', render);
  render();
}

// A modal list of gallery images; resolves with the chosen item or null.
export function pickFromGallery() {
  return new Promise((resolve) => {
    const dialog = h('dialog.picker');
    const done = (item) => { dialog.close(); dialog.remove(); resolve(item); };
    dialog.append(h('h2', {}, 'Pick an image from the gallery'),
      state.gallery.length
        ? h('div.gallery-list', {}, state.gallery.map((item) => thumb(item, () => done(item))))
        : h('p.hint', {}, 'The gallery is empty: generate some images first (the “Generate” tab).'),
      h('div.dialog-actions', {}, h('button', { type: 'button', onclick: () => done(null) }, 'Cancel')));
    dialog.addEventListener('cancel', () => done(null));
    document.body.append(dialog);
    dialog.showModal();
  });
}
