// The gallery's views: a strip at the page bottom, a picker dialog for "From gallery…", and the
// "Open in…" actions shared with result views. What it shows is gallery.js's: the server's
// history on a server with a result store, else the results kept in this browser.
import { emit, on } from '../bus.js';
import { gallery, clearLocal, deleteItem, loadPage, startGallery } from '../gallery.js';
import { openTargets } from '../modes/registry.js';
import { scaleNicely } from '../display.js';
import { h } from './dom.js';

// "Edit in:" a button per mode that takes a picture (except: the mode this one is shown in).
export function openInButtons(getImage, { except = null } = {}) {
  return h('div.open-in', {}, h('span.open-in-label', {}, 'Edit in:'),
    openTargets().filter((m) => m.id !== except).map((m) => h('button.chip', {
      type: 'button', dataset: { open: m.id },
      onclick: () => emit('open', { mode: m.id, image: getImage() }),
    }, m.label)));
}

function thumb(item, onclick) {
  const img = scaleNicely(h('img', { src: item.image, alt: item.label || 'result', draggable: 'true' }));
  img.addEventListener('dragstart', (e) => e.dataTransfer.setData('application/x-robust-canvas', item.image));
  return h('button.thumb', { type: 'button', title: item.label || '', onclick }, img);
}

// The strip; it starts the gallery (gallery.js) and follows it.
export function galleryStrip(root) {
  const list = h('div.gallery-list');
  const actions = h('div.gallery-actions');
  const empty = h('p.hint', {}, 'Results you make appear here. Drag one onto a canvas, or click it to edit it in another mode.');
  const clear = h('button.link', { type: 'button', onclick: () => (gallery.server ? loadPage() : clearLocal()) });
  const more = h('button.link.gallery-more', { type: 'button', hidden: true, onclick: () => loadPage({ more: true }) },
    'Older results…');
  let selected = null;
  const select = (item) => {
    selected = item;
    [...list.children].forEach((b, i) => b.setAttribute('aria-pressed', String(gallery.items[i] === item)));
    actions.replaceChildren(...(item ? [scaleNicely(h('img.selected-thumb', { src: item.image, alt: '' })),
      openInButtons(() => item.image),
      ...(item.id ? [h('button.link.gallery-delete', { type: 'button', onclick: () => deleteItem(item) },
        'Delete from the server')] : [])] : []));
  };
  const render = () => {
    list.replaceChildren(...gallery.items.map((item) => thumb(item, () => select(item))));
    empty.hidden = gallery.items.length > 0;
    more.hidden = !(gallery.server && gallery.next);
    clear.textContent = gallery.server ? 'Refresh' : 'Clear gallery';
    clear.title = gallery.server ? 'The results saved on the server, newest first' : 'Forget the results kept in this browser';
    if (!gallery.items.includes(selected)) select(null);
  };
  root.append(h('div.gallery-head', {}, h('h2', {}, 'Gallery'), clear), empty, list, more, actions);
  on('gallery', render);
  render();
  startGallery();
}

// A modal list of gallery images; resolves with the chosen item or null.
export function pickFromGallery() {
  return new Promise((resolve) => {
    const dialog = h('dialog.picker');
    const done = (item) => { dialog.close(); dialog.remove(); resolve(item); };
    dialog.append(h('h2', {}, 'Pick an image from the gallery'),
      gallery.items.length
        ? h('div.gallery-list', {}, gallery.items.map((item) => thumb(item, () => done(item))))
        : h('p.hint', {}, 'The gallery is empty: generate some images first (the “Generate” tab).'),
      h('div.dialog-actions', {}, h('button', { type: 'button', onclick: () => done(null) }, 'Cancel')));
    dialog.addEventListener('cancel', () => done(null));
    document.body.append(dialog);
    dialog.showModal();
  });
}
