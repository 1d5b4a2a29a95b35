// App state shared by the views: the task registry, the model list, the chosen model, and the
// gallery of results.
import { emit } from './bus.js';

const GALLERY_KEY = 'robust-canvas-gallery';
const GALLERY_MAX = 24;
// Only a model the user picked is remembered; otherwise the page opens on the server's default.
const MODEL_KEY = 'robust-canvas-model-choice';

export const state = { tasks: {}, models: [], card: null, gallery: loadGallery() };

// list: GET /api/tasks; kept by task id.
export function setTasks(list) {
  state.tasks = Object.fromEntries(list.map((t) => [t.id, t]));
  emit('tasks', state.tasks);
}

export function setModels(list) {
  state.models = list;
  const saved = localStorage.getItem(MODEL_KEY);
  const card = list.find((m) => m.id === saved) || list.find((m) => m.default) || list[0] || null;
  setModel(card);
}

// chosen: picked by the user (remembered for the next visit).
export function setModel(card, { chosen = false } = {}) {
  state.card = card;
  if (card && chosen) localStorage.setItem(MODEL_KEY, card.id);
  emit('model', card);
}

export const inputSize = () => state.card?.input_size || 32;
export const classes = () => state.card?.classes || [];

function loadGallery() {
  try { return JSON.parse(localStorage.getItem(GALLERY_KEY) || '[]'); } catch { return []; }
}

// item: {image: data URL, label, task}
export function addToGallery(items) {
  state.gallery = [...items, ...state.gallery].slice(0, GALLERY_MAX);
  saveGallery();
  emit('gallery', state.gallery);
}

// Large models' images are big data URLs: when localStorage is full, keep the newest that fit
// there (all of them stay in memory for this visit).
function saveGallery() {
  for (let n = state.gallery.length; n > 0; n = Math.floor(n / 2)) {
    try { localStorage.setItem(GALLERY_KEY, JSON.stringify(state.gallery.slice(0, n))); return; } catch { /* over quota */ }
  }
  localStorage.removeItem(GALLERY_KEY);
}

export function clearGallery() {
  state.gallery = [];
  localStorage.removeItem(GALLERY_KEY);
  emit('gallery', state.gallery);
}
