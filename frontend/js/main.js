// Start-up: header (mode tabs, model selector, rerun, settings), modes, gallery, keyboard
// shortcuts, and robust-canvas PNGs dropped on the page.
import * as api from './api.js';
import { on } from './bus.js';
import { state, setModels, setModel, setTasks } from './store.js';
import { h } from './ui/dom.js';
import { galleryStrip } from './ui/gallery.js';
import { rerunButton, rerunDrops } from './ui/rerun.js';
import * as sketch from './modes/sketch.js';
import * as paint from './modes/paint.js';
import * as inpaint from './modes/inpaint.js';
import * as superresolve from './modes/superresolve.js';
import * as translate from './modes/translate.js';
import * as generate from './modes/generate.js';
import * as own from './own/page.js';

const MODES = [sketch, paint, inpaint, superresolve, translate, generate, own];
const byId = Object.fromEntries(MODES.map((m) => [m.id, m]));
let current = null;

function buildTabs() {
  const nav = document.getElementById('tabs');
  const main = document.getElementById('modes');
  for (const m of MODES) {
    nav.append(h('a.tab', { href: `#${m.id}`, role: 'tab', id: `tab-${m.id}`, 'aria-controls': `mode-${m.id}` }, m.label));
    const section = h('section.mode', { id: `mode-${m.id}`, role: 'tabpanel', 'aria-labelledby': `tab-${m.id}`, hidden: true });
    main.append(section);
    m.mount(section);
  }
}

function show(id) {
  current = byId[id] || sketch;
  for (const m of MODES) {
    document.getElementById(`mode-${m.id}`).hidden = m !== current;
    document.getElementById(`tab-${m.id}`).setAttribute('aria-selected', String(m === current));
  }
  current.board?.fit();
  current.activate?.();
}

function buildModelPicker() {
  const select = document.getElementById('model');
  const info = document.getElementById('model-info');
  const describe = (c) => (c ? [c.dataset, `${c.input_size}px`, c.norm && c.eps !== undefined ? `${c.norm.toUpperCase()} ε=${c.eps}` : null,
    typeof c.accuracy === 'number' ? `${(c.accuracy * (c.accuracy <= 1 ? 100 : 1)).toFixed(0)}% accurate` : null].filter(Boolean).join(' · ') : '');
  on('model', (card) => {
    select.replaceChildren(...state.models.map((m) => h('option', { value: m.id, selected: m === card }, m.id)));
    info.textContent = describe(card);
  });
  select.addEventListener('change', () => setModel(state.models.find((m) => m.id === select.value), { chosen: true }));
}

function buildSettings() {
  const input = document.getElementById('token');
  document.getElementById('settings-form').addEventListener('submit', (e) => e.preventDefault());
  input.value = api.token.get();
  input.addEventListener('change', () => { api.token.set(input.value.trim()); loadModels(); });
}

// A message for the whole page (null hides it).
function banner(message) {
  const el = document.getElementById('banner');
  el.textContent = message || '';
  el.hidden = !message;
}

// The task registry comes first: the modes' settings are built from it, their defaults from the card.
async function loadModels() {
  try {
    const [registry, list, health] = await Promise.all([api.tasks(), api.models(), api.health().catch(() => null)]);
    banner(null);
    setTasks(registry);
    setModels(list);
    document.getElementById('device').textContent = health?.device ? `running on ${health.device}` : '';
  } catch (err) {
    banner(`Could not load the models: ${err.message}`);
  }
}

function shortcuts(e) {
  const t = e.target;
  // typing fields keep their own keys; sliders, colour pickers and buttons do not
  if (t.closest && t.closest('input:not([type=range]):not([type=color]), select, textarea, [contenteditable]')) return;
  const board = current?.board;
  if (!board) return;
  const key = e.key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && key === 'z' && !e.shiftKey) { board.undo(); e.preventDefault(); }
  else if ((e.ctrlKey || e.metaKey) && (key === 'y' || (key === 'z' && e.shiftKey))) { board.redo(); e.preventDefault(); }
  else if (e.key === '[') board.stepBrush(-1);
  else if (e.key === ']') board.stepBrush(1);
  else if (!e.ctrlKey && !e.metaKey && !e.altKey && ['b', 'e', 'f'].includes(key)) {
    document.querySelector(`#mode-${current.id} .tool[title$="(${key.toUpperCase()})"]`)?.click();
  }
}

buildTabs();
buildModelPicker();
buildSettings();
galleryStrip(document.getElementById('gallery'));
document.querySelector('.header-tools').prepend(rerunButton(banner));
rerunDrops(banner);
on('open', ({ mode, image }) => {
  location.hash = `#${mode}`;
  show(mode);
  byId[mode].openImage(image);
});
on('rerun', ({ task }) => {  // the mode's run panel follows the job (ui/run.js); show it
  banner(null);
  location.hash = `#${task}`;
  show(task);
});
window.addEventListener('hashchange', () => show(location.hash.slice(1)));
document.addEventListener('keydown', shortcuts);
show(location.hash.slice(1));
loadModels();
