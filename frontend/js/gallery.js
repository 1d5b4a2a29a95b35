// The gallery's items, newest first: the results of earlier jobs, owned here alone (views read
// `gallery` and listen to the 'gallery' event). On a server with a result store (GET /api/health:
// store) they are the server's history, a page at a time, the same in every browser, and nothing
// is kept in the browser; otherwise they are the results kept in this browser's localStorage.
import * as api from './api.js';
import { emit } from './bus.js';

const KEY = 'robust-canvas-gallery';
const MAX = 24;  // items kept from new results (and a page of the server's history)

// server: whether the items are the server's history (null until the server has said);
// next: the cursor of its next page (null: no older results).
export const gallery = { items: [], server: null, next: null };
let loading = null;  // the page being fetched

const changed = () => emit('gallery', gallery);

// Which gallery this server keeps, asked once at start-up; then its items.
export async function startGallery() {
  try {
    gallery.server = Boolean((await api.health()).store);
  } catch {
    gallery.server = false;
  }
  if (gallery.server) return loadPage();
  gallery.items = [...gallery.items, ...readLocal()].slice(0, MAX);
  changed();
}

// A finished job's images, {image, task, label} each: shown at once. A server with a store has
// saved them: its history (where they have their ids) then replaces them.
export function addResults(items) {
  gallery.items = [...items, ...gallery.items].slice(0, MAX);
  if (gallery.server === false) saveLocal();
  changed();
  if (gallery.server) loadPage();
}

// The newest page of the server's history (more: the next older page, appended).
export function loadPage({ more = false } = {}) {
  if (loading) return loading;
  loading = (async () => {
    try {
      const page = await api.results({ cursor: more ? gallery.next : null });
      const items = await Promise.all(page.items.map(asItem));
      gallery.next = page.next;
      gallery.items = more ? [...gallery.items, ...items] : items;
      changed();
    } catch { /* the gallery keeps what it shows */ } finally {
      loading = null;
    }
  })();
  return loading;
}

async function asItem(r) {
  return { id: r.id, task: r.task, label: `${r.task}: ${r.class}`, image: await api.resultImage(r) };
}

// A saved result (it has an id) deleted from the server; gone already counts as deleted.
export async function deleteItem(item) {
  try {
    await api.deleteResult(item.id);
  } catch (err) {
    if (err.status !== 404) return;
  }
  gallery.items = gallery.items.filter((x) => x !== item);
  changed();
}

// Forget the results kept in this browser (a server's history is deleted an item at a time).
export function clearLocal() {
  gallery.items = [];
  localStorage.removeItem(KEY);
  changed();
}

function readLocal() {
  try { return JSON.parse(localStorage.getItem(KEY) || '[]'); } catch { return []; }
}

// Large models' images are big data URLs: when localStorage is full, keep the newest that fit
// there (all of them stay in memory for this visit).
function saveLocal() {
  for (let n = gallery.items.length; n > 0; n = Math.floor(n / 2)) {
    try { localStorage.setItem(KEY, JSON.stringify(gallery.items.slice(0, n))); return; } catch { /* over quota */ }
  }
  localStorage.removeItem(KEY);
}
