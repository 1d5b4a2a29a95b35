// Controls shared by the modes: class picker, advanced settings, brush toolbar, image source.
import { on } from '../bus.js';
import { state, classes } from '../store.js';
import { pretty } from '../display.js';
import { readDataURL } from '../images.js';
import { h, field, nextId } from './dom.js';
import { pickFromGallery } from './gallery.js';
import { reproduceOr } from './rerun.js';

export const SWATCHES = ['#1f2937', '#ffffff', '#9ca3af', '#7c3f1d', '#dc2626', '#f97316', '#facc15',
  '#84cc16', '#15803d', '#38bdf8', '#1d4ed8', '#7c3aed', '#ec4899', '#fde2c4'];

// ---- class picker ------------------------------------------------------------------------------
// initial: a class name, or several in order of preference (the first the model knows wins).
export function classPicker({ label = 'Class', auto = null, initial = null } = {}) {
  const select = h('select', { name: 'class' });
  const preferred = [initial].flat().filter((c) => c !== null);
  const fill = () => {
    const keep = [select.value, ...preferred].find((c) => classes().includes(c));
    select.replaceChildren(
      ...(auto ? [h('option', { value: '' }, auto)] : []),
      ...classes().map((c) => h('option', { value: c }, pretty(c))));
    select.value = keep ?? select.options[0]?.value ?? '';
  };
  fill();
  on('model', fill);
  return { el: field(label, select), select, value: () => select.value };
}

// ---- advanced settings: the task's settings and seed, from the registry (GET /api/tasks) ------
// omit: names shown elsewhere in the mode (generate has its own seed field). scale(): the factor
// of the task's `scaled` settings (super-resolution: result side / input size); call refresh()
// when it changes.
export function advancedSettings(task, { omit = [], scale = () => 1 } = {}) {
  let shown = [], inputs = {};
  const grid = h('div.advanced-grid');
  const el = h('details.advanced', {}, h('summary', {}, 'Advanced settings'),
    h('p.hint', {}, 'Leave blank to use the model’s tuned defaults (shown greyed).'), grid);
  const render = () => {
    const typed = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value]));
    shown = (state.tasks[task]?.fields || []).filter((f) => (f.setting || f.name === 'seed') && !omit.includes(f.name));
    inputs = Object.fromEntries(shown.map((f) => [f.name, settingInput(f, typed[f.name])]));
    grid.replaceChildren(...shown.map((f) => settingRow(f, inputs[f.name])));
    refresh();
  };
  // Placeholders: what the server will use when the input is left blank.
  const refresh = () => {
    const defaults = state.card?.task_defaults?.[task] || {};
    const scaled = state.tasks[task]?.scaled || [];
    for (const f of shown) {
      const value = f.setting ? defaults[f.name] : f.default;
      if (f.kind === 'choice') {
        inputs[f.name].options[0].textContent = value ?? 'default';  // the card's choice, sent as blank
        continue;
      }
      inputs[f.name].placeholder = typeof value !== 'number' ? 'default'
        : String(scaled.includes(f.name) ? Number((value * scale()).toPrecision(6)) : value);
    }
  };
  render();
  on('tasks', render);
  on('model', refresh);
  return {
    el,
    refresh,
    values() {
      const out = {};
      for (const [name, input] of Object.entries(inputs)) {
        const f = shown.find((s) => s.name === name);
        if (input.value.trim() !== '') out[name] = f?.kind === 'choice' ? input.value : Number(input.value);
      }
      return out;
    },
    markInvalid(name) {
      if (!inputs[name]) return false;
      el.open = true;
      inputs[name].setAttribute('aria-invalid', 'true');
      return true;
    },
  };
}

// A select for a choice field (first option: the default), else a number input with the field's limits.
function settingInput(f, value = '') {
  if (f.kind === 'choice') {
    const select = h('select', { name: f.name, title: f.help },
      [h('option', { value: '' }, 'default'), ...f.choices.map((c) => h('option', { value: c }, c))]);
    select.value = value;
    return select;
  }
  const int = f.kind === 'int';
  return h('input', {
    type: 'number', name: f.name, value, inputmode: int ? 'numeric' : 'decimal', step: int ? '1' : 'any',
    min: f.minimum ?? undefined, max: f.maximum ?? undefined, title: f.help,
  });
}

// "step_size" -> "Step size", with the registry's help beside it.
function settingRow(f, input) {
  const label = f.name.charAt(0).toUpperCase() + f.name.slice(1).replace(/_/g, ' ');
  return h('label.setting', {}, h('span.field-label', {}, label), input, h('small.hint', {}, f.help));
}

// ---- brush toolbar -----------------------------------------------------------------------------
const TOOL_LABELS = {
  pen: ['Brush', 'B'], eraser: ['Eraser', 'E'], fill: ['Fill', 'F'],
  region: ['Mark region', 'B'], unregion: ['Unmark', 'E'],
};

// tools: names from TOOL_LABELS; 'region'/'unregion' brush the mask layer.
export function brushToolbar(board, { tools = ['pen', 'eraser', 'fill'], colors = true, onClear } = {}) {
  const toolButtons = tools.map((t) => h('button.tool', {
    type: 'button', dataset: { tool: t }, title: `${TOOL_LABELS[t][0]} (${TOOL_LABELS[t][1]})`,
    onclick: () => selectTool(t),
  }, h('span.tool-icon', { 'aria-hidden': 'true', dataset: { icon: t } }), TOOL_LABELS[t][0]));
  const selectTool = (t) => {
    const mask = t === 'region' || t === 'unregion';
    board.setTool({ brush: t === 'unregion' ? 'eraser' : t === 'region' ? 'pen' : t, layer: mask ? 'mask' : 'image' });
    toolButtons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.tool === t)));
  };
  const size = sizeControl(board);
  const palette = colors ? colorControl(board, () => board.tool.brush === 'eraser' && selectTool('pen')) : null;
  const history = historyButtons(board, onClear);
  board.onChange(() => { size.sync(); palette?.sync(); history.sync(); });
  selectTool(tools[0]);
  const el = h('div.toolbar', { role: 'toolbar', 'aria-label': 'Drawing tools' },
    h('div.tool-group', {}, toolButtons), history.el, h('div.toolbar-break'), size.el, palette?.el);
  return { el, selectTool };
}

// The brush size slider: its range and step follow the model's size (board.brushLimits).
function sizeControl(board) {
  const id = nextId('size');
  const input = h('input', { type: 'range', id });
  const out = h('output.size-out', { for: id });
  input.addEventListener('input', () => board.setTool({ size: Number(input.value) }));
  const sync = () => {
    const { min, max, step } = board.brushLimits();
    Object.assign(input, { min: String(min), max: String(max), step: String(step) });
    input.value = String(board.tool.size);
    out.textContent = `${Number(board.tool.size.toFixed(1))} px`;
  };
  sync();
  const el = h('label.size', { title: 'Brush size in model pixels ([ and ])' }, h('span', {}, 'Size'), input, out);
  return { el, sync };
}

// Swatches and a free colour picker; picking a colour while erasing goes back to the brush.
function colorControl(board, onPick) {
  const color = h('input.color', { type: 'color', value: board.tool.color, title: 'Pick any colour' });
  const setColor = (c) => { board.setTool({ color: c }); onPick(); };
  color.addEventListener('input', () => setColor(color.value));
  const swatches = SWATCHES.map((c) => h('button.swatch', {
    type: 'button', title: c, style: `--c:${c}`, 'aria-label': `Colour ${c}`, onclick: () => setColor(c),
  }));
  const sync = () => {
    color.value = board.tool.color;
    swatches.forEach((s) => s.setAttribute('aria-pressed', String(s.title === board.tool.color)));
  };
  sync();
  return { el: h('div.colors', {}, color, swatches), sync };
}

function historyButtons(board, onClear) {
  const undo = h('button.icon-btn', { type: 'button', title: 'Undo (Ctrl+Z)', onclick: () => board.undo() }, '↶ Undo');
  const redo = h('button.icon-btn', { type: 'button', title: 'Redo (Ctrl+Y)', onclick: () => board.redo() }, '↷ Redo');
  const clear = h('button.icon-btn', { type: 'button', title: 'Clear', onclick: () => (onClear ? onClear() : board.clear()) }, '✕ Clear');
  const sync = () => {
    undo.disabled = !board.history.canUndo();
    redo.disabled = !board.history.canRedo();
  };
  sync();
  return { el: h('div.tool-group.history', {}, undo, redo, clear), sync };
}

// ---- image source: file picker, drag and drop, gallery -----------------------------------------
// A dropped robust-canvas PNG is reproduced (ui/rerun.js); any other picture becomes the image.
export function imageSource(onImage, { dropTarget = null, onError = () => {} } = {}) {
  const file = h('input', { type: 'file', accept: 'image/*', hidden: true });
  const read = (f) => {
    if (!f || !f.type.startsWith('image/')) return onError('Please choose an image file (PNG, JPEG, …).');
    return readDataURL(f).then((url) => onImage(url, f.name), () => onError(`Could not read ${f.name}.`));
  };
  file.addEventListener('change', () => { read(file.files[0]); file.value = ''; });
  const el = h('div.source', {},
    h('button', { type: 'button', onclick: () => file.click() }, 'Upload image…'),
    h('button', { type: 'button', onclick: async () => { const g = await pickFromGallery(); if (g) onImage(g.image, g.label); } }, 'From gallery…'),
    file);
  for (const t of [el, dropTarget].filter(Boolean)) {
    t.addEventListener('dragover', (e) => { e.preventDefault(); t.classList.add('dragging'); });
    t.addEventListener('dragleave', () => t.classList.remove('dragging'));
    t.addEventListener('drop', async (e) => {
      e.preventDefault();
      t.classList.remove('dragging');
      const url = e.dataTransfer.getData('application/x-robust-canvas');
      if (url) return onImage(url, 'gallery image');
      const f = e.dataTransfer.files[0];
      if (!(await reproduceOr(f, onError))) read(f);
    });
  }
  return { el };
}
