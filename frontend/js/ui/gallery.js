// The gallery: results of earlier jobs, a strip at the page bottom, a picker dialog for
// "From gallery…", and the "Open in…" actions shared with result views. On a server with a result
// store (GET /api/health: store) it shows the server's history, the same in every browser;
// otherwise the results kept in this browser's localStorage (store.js).
import * as api from '../api.js';
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

// The server's history: {on, next (cursor), loading}; items carry their result id.
const history = { on: false, next: null, loading: null };

async function asItem(r) {
  return { id: r.id, task: r.task, label: `${r.task}: ${r.class}`, image: await api.resultImage(r) };
}

// Replace the gallery with the newest page of the server's history (more: append the next page).
function loadHistory({ more = false } = {}) {
  if (history.loading) return history.loading;
  history.loading = (async () => {
    try {
      const page = await api.results({ cursor: more ? history.next : null });
      const items = await Promise.all(page.items.map(asItem));
      history.next = page.next;
      state.gallery = more ? [...state.gallery, ...items] : items;
      emit('gallery', state.gallery);
    } catch { /* the strip keeps what it shows */ } finally {
      history.loading = null;
    }
  })();
  return history.loading;
}

async function startHistory() {
  try {
    history.on = Boolean((await api.health()).store);
  } catch { history.on = false; }
  if (history.on) await loadHistory();
  emit('gallery-mode', history.on);
}

export function galleryStrip(root) {
  const list = h('div.gallery-list');
  const actions = h('div.gallery-actions');
  const empty = h('p.hint', {}, 'Results you make appear here. Drag one onto a canvas, or click it to edit it in another mode.');
  const clear = h('button.link', { type: 'button', onclick: () => (history.on ? loadHistory() : clearGallery()) },
    'Clear gallery');
  const more = h('button.link.gallery-more', { type: 'button', hidden: true, onclick: () => loadHistory({ more: true }) },
    'Older results…');
  let selected = null;
  const render = () => {
    list.replaceChildren(...state.gallery.map((item) => thumb(item, () => select(item))));
    empty.hidden = state.gallery.length > 0;
    more.hidden = !(history.on && history.next);
    if (!state.gallery.includes(selected)) select(null);
    // A new result (ui/run.js adds it): the server has saved it; show the history with its id.
    if (history.on && state.gallery.some((item) => !item.id)) loadHistory();
  };
  const remove = async (item) => {
    try {
      await api.deleteResult(item.id);
    } catch (err) {
      if (err.status !== 404) return;
    }
    state.gallery = state.gallery.filter((x) => x !== item);
    emit('gallery', state.gallery);
  };
  const select = (item) => {
    selected = item;
    [...list.children].forEach((b, i) => b.setAttribute('aria-pressed', String(state.gallery[i] === item)));
    actions.replaceChildren(...(item ? [scaleNicely(h('img.selected-thumb', { src: item.image, alt: '' })),
      openInButtons(() => item.image),
      ...(item.id ? [h('button.link.gallery-delete', { type: 'button', onclick: () => remove(item) },
        'Delete from the server')] : [])] : []));
  };
  root.append(h('div.gallery-head', {}, h('h2', {}, 'Gallery'), clear), empty, list, more, actions);
  on('gallery', render);
  on('gallery-mode', (server) => {
    clear.textContent = server ? 'Refresh' : 'Clear gallery';
    clear.title = server ? 'The results saved on the server, newest first' : 'Forget the results kept in this browser';
    render();
  });
  render();
  startHistory();
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
