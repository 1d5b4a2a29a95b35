// App state shared by the views: the task registry, the model list and the chosen model (the
// gallery's items are gallery.js's).
import { emit } from './bus.js';

// Only a model the user picked is remembered; otherwise the page opens on the server's default.
const MODEL_KEY = 'robust-canvas-model-choice';

export const state = { tasks: {}, models: [], card: null };

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
