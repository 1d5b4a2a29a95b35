// App state shared by the views: the model list, the chosen model, and the gallery of results.
import { emit } from './bus.js';

const GALLERY_KEY = 'robust-canvas-gallery';
const GALLERY_MAX = 24;

export const state = { models: [], card: null, gallery: loadGallery() };

export function setModels(list) {
  state.models = list;
  const saved = localStorage.getItem('robust-canvas-model');
  const card = list.find((m) => m.id === saved) || list.find((m) => m.default) || list[0] || null;
  setModel(card);
}

export function setModel(card) {
  state.card = card;
  if (card) localStorage.setItem('robust-canvas-model', card.id);
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
  try { localStorage.setItem(GALLERY_KEY, JSON.stringify(state.gallery)); } catch { /* full: keep in memory */ }
  emit('gallery', state.gallery);
}

export function clearGallery() {
  state.gallery = [];
  localStorage.removeItem(GALLERY_KEY);
  emit('gallery', state.gallery);
}
