// "Your model": a robust model of a person's own classes, fine-tuned on the server from their
// photos. Drop a folder per class (or pick photos and name each class), press Train, follow the
// epochs; the model then joins the model picker, and every mode works on it.
import * as api from '../api.js';
import { on } from '../bus.js';
import { state, setModels, setModel } from '../store.js';
import { h, field } from '../ui/dom.js';
import { layout, step } from '../ui/layout.js';
import { registerMode } from '../modes/registry.js';
import { batches, classesFromDrop, classesFromFolder, imageFiles } from './photos.js';

const id = 'own';
const TRAINING_KEY = 'robust-canvas-training';   // the training being followed, across a reload
const MIN_PHOTOS = 5;                            // per class, as the server asks (folders.MIN_PER_CLASS)

const classes = [];   // [{name(), files: [File], el}]
let ui;

// It takes no picture (no openImage) and has no board: a page of its own among the modes.
export const own = registerMode({ id, label: 'Your model', mount });

function mount(section) {
  ui = controls();
  const add = h('button', { type: 'button', onclick: () => addClass('', []) }, '+ Add a class');
  layout(section, {
    title: 'A model of your own',
    intro: 'Teach the robust photo model your own subjects: a few hundred photos per class become a robust model '
      + 'of them in minutes, and every mode works on it — translate one of your classes into the other.',
    left: [step(1, 'Your photos, one class each'), ui.drop, ui.list, h('div.row', {}, add),
      h('p.hint', {}, `At least ${MIN_PHOTOS} photos per class; a few hundred make a good model. Photos are shrunk `
        + 'to 512 px in your browser before they are sent, and stay on the server with the model.')],
    right: [step(2, 'Train it'), field('Model name', ui.name), ui.base,
      h('details.advanced', {}, h('summary', {}, 'Advanced'), field('Epochs', ui.epochs, 'default 12: minutes on a laptop CPU')),
      h('div.run.own-run', {}, h('div.run-buttons', {}, ui.train, ui.cancel), h('div.progress-row', {}, ui.bar, ui.status), ui.error),
      ui.done, step(3, 'Your models'), ui.mine],
  });
  addClass('', []);
  addClass('', []);
  on('model', () => {
    listMine();
    const base = state.models.find((m) => m.default);
    ui.base.textContent = base ? `Fine-tuned from ${base.id}, the server's default model: its robust features, a new last layer for your classes.` : '';
  });
  resume();
}

function controls() {
  return {
    list: h('div.own-classes'),
    drop: dropZone(),
    name: h('input', { type: 'text', name: 'name', placeholder: 'e.g. my-cats-and-dogs', maxlength: '48', autocomplete: 'off' }),
    epochs: h('input', { type: 'number', name: 'epochs', min: '1', max: '100', placeholder: '12' }),
    train: h('button.primary.go', { type: 'button', dataset: { action: 'train' }, onclick: train }, 'Train'),
    cancel: h('button.stop', { type: 'button', dataset: { action: 'cancel' }, disabled: true }, 'Cancel'),
    bar: h('progress', { max: '1', value: '0', 'aria-label': 'Training progress' }),
    status: h('span.status', { 'aria-live': 'polite' }, 'Add your photos, then press Train.'),
    error: h('div.error', { role: 'alert', hidden: true }),
    done: h('div.own-done', { hidden: true }),
    mine: h('div.own-models'),
    base: h('p.hint'),
  };
}

// ---- classes -----------------------------------------------------------------------------------

function addClass(name, files) {
  const same = name && classes.find((c) => c.name().toLowerCase() === name.toLowerCase());
  const empty = classes.find((c) => !c.name() && !c.files.length);
  if (same || (empty && (name || files.length))) return fillClass(same || empty, name, files);
  const c = { files: [] };
  const nameInput = h('input', { type: 'text', placeholder: 'class name, e.g. cat', 'aria-label': 'Class name', maxlength: '48' });
  const count = h('span.own-count');
  const picker = h('input', { type: 'file', accept: 'image/*', multiple: true, hidden: true });
  picker.addEventListener('change', () => { c.files.push(...imageFiles(picker.files)); picker.value = ''; refresh(c); });
  c.name = () => nameInput.value.trim();
  c.nameInput = nameInput;
  c.count = count;
  c.thumbs = h('div.own-thumbs');
  c.el = h('div.own-class', {}, nameInput, count,
    h('button', { type: 'button', dataset: { action: 'add-photos' }, onclick: () => picker.click() }, 'Add photos…'),
    h('button.link', { type: 'button', title: 'Remove this class', onclick: () => removeClass(c) }, 'Remove'), picker,
    c.thumbs);
  nameInput.addEventListener('input', suggestName);
  classes.push(c);
  ui.list.append(c.el);
  fillClass(c, name, files);
}

function fillClass(c, name, files) {
  if (name) c.nameInput.value = name;
  c.files.push(...files);
  refresh(c);
  suggestName();
}

function removeClass(c) {
  classes.splice(classes.indexOf(c), 1);
  showThumbs(c, []);
  c.el.remove();
  suggestName();
}

const THUMBS = 8;

// The class's first photos, small (object URLs, released when replaced).
function showThumbs(c, files) {
  c.thumbs.querySelectorAll('img').forEach((img) => URL.revokeObjectURL(img.src));
  c.thumbs.replaceChildren(...files.slice(0, THUMBS).map((f) => h('img', { src: URL.createObjectURL(f), alt: '', loading: 'lazy' })));
}

function refresh(c) {
  showThumbs(c, c.files);
  const n = c.files.length;
  c.count.textContent = n ? `${n} photo${n === 1 ? '' : 's'}` : 'no photos yet';
  c.count.classList.toggle('few', n > 0 && n < MIN_PHOTOS);
}

// Until a person types a name: the classes' names, e.g. "cat-vs-dog".
function suggestName() {
  const names = classes.map((c) => c.name()).filter(Boolean);
  ui.name.placeholder = names.length >= 2 ? names.join('-vs-').toLowerCase().slice(0, 48) : 'e.g. my-cats-and-dogs';
}

// Folders dropped here, or one chosen with the button, become classes.
function dropZone() {
  const folder = h('input', { type: 'file', webkitdirectory: true, multiple: true, hidden: true });
  folder.addEventListener('change', () => { addClasses(classesFromFolder(folder.files)); folder.value = ''; });
  const zone = h('div.own-drop', {},
    h('strong', {}, 'Drop two or more folders here'),
    h('span', {}, 'one folder of photos per class, or one folder of class folders; any size, any format'),
    h('button', { type: 'button', dataset: { action: 'choose-folder' }, onclick: () => folder.click() },
      'Choose a folder of class folders…'), folder);
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('dragging'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', async (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    addClasses(await classesFromDrop(e.dataTransfer));
  });
  return zone;
}

function addClasses(found) {
  if (!Object.keys(found).length) return showError('No photos there: drop folders of photos, one per class (or pick photos with “Add photos…”).');
  showError('');
  for (const [name, files] of Object.entries(found)) addClass(name, files);
}

// ---- training ----------------------------------------------------------------------------------

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

function busy(running) {
  ui.train.disabled = running;
  ui.cancel.disabled = !running;
}

// The classes to send, or null once what is missing is shown.
function chosen() {
  const ready = classes.filter((c) => c.files.length);
  if (ready.length < 2) return showError('Add photos of at least two classes.'), null;
  const unnamed = ready.find((c) => !c.name());
  if (unnamed) return unnamed.nameInput.focus(), showError('Give every class a name.'), null;
  const few = ready.find((c) => c.files.length < MIN_PHOTOS);
  if (few) return showError(`“${few.name()}” has ${few.files.length} photos: each class needs at least ${MIN_PHOTOS}.`), null;
  return ready;
}

async function train() {
  showError('');
  ui.done.hidden = true;
  const sending = chosen();
  if (!sending) return;
  busy(true);
  let upload = null, cancelled = false;
  ui.cancel.onclick = () => { cancelled = true; ui.status.textContent = 'Cancelling…'; };
  try {
    upload = (await api.createUpload()).id;
    const total = sending.reduce((n, c) => n + c.files.length, 0);
    let sent = 0, skipped = 0;
    for (const c of sending) {
      for await (const batch of batches(c.files, () => { skipped += 1; })) {
        if (cancelled) throw new Cancelled();
        await api.addPhotos(upload, c.name(), batch);
        sent += batch.length;
        ui.bar.value = (sent + skipped) / total;
        ui.status.textContent = `Sending photos: ${sent} of ${total}` + (skipped ? ` (${skipped} not images, left out)` : '');
      }
    }
    if (cancelled) throw new Cancelled();
    const body = { upload, name: ui.name.value.trim() || ui.name.placeholder };
    if (ui.epochs.value) body.epochs = Number(ui.epochs.value);
    follow(await api.startTraining(body));
  } catch (err) {
    if (upload) api.deleteUpload(upload).catch(() => {});   // nothing half-sent stays on the server
    busy(false);
    ui.bar.value = 0;
    if (err instanceof Cancelled) { ui.status.textContent = 'Cancelled.'; return; }
    ui.status.textContent = 'Not started.';
    showError(err.status === 429 && err.retryAfter ? `${err.message} (about ${minutes(err.retryAfter)})` : err.message);
    if (err.field === 'name') ui.name.setAttribute('aria-invalid', 'true');
  }
}

class Cancelled extends Error {}

// Follow a training under way (a reload finds it again through localStorage).
function follow(started) {
  localStorage.setItem(TRAINING_KEY, JSON.stringify({ id: started.id, events_url: started.events_url }));
  ui.name.removeAttribute('aria-invalid');
  busy(true);
  ui.cancel.onclick = () => { ui.status.textContent = 'Cancelling…'; api.cancelTraining(started.id).catch((e) => showError(e.message)); };
  progress(started);
  const ended = () => { localStorage.removeItem(TRAINING_KEY); busy(false); };
  api.watchTraining(started, {
    progress,
    done: async (t) => { ended(); ui.bar.value = 1; ui.status.textContent = 'Done.'; await ready(t); },
    failed: (message) => { ended(); ui.status.textContent = 'Failed.'; showError(message); },
    cancelled: () => { ended(); ui.bar.value = 0; ui.status.textContent = 'Cancelled: your photos are still on the server until you train again.'; },
  });
}

async function resume() {
  const saved = JSON.parse(localStorage.getItem(TRAINING_KEY) || 'null');
  if (!saved) return;
  try {
    const t = await api.training(saved.id);
    if (['queued', 'running'].includes(t.status)) follow(t);
    else localStorage.removeItem(TRAINING_KEY);
  } catch {
    localStorage.removeItem(TRAINING_KEY);
  }
}

function progress(t) {
  if (t.status === 'queued') {
    ui.bar.removeAttribute('value');
    ui.status.textContent = `Waiting for ${t.position === 1 ? 'the training under way' : `${t.position} trainings`} to finish…`;
    return;
  }
  ui.bar.value = t.steps ? t.step / t.steps : 0;
  const parts = t.stage && t.stage !== 'training' ? [`${t.stage[0].toUpperCase()}${t.stage.slice(1)}…`]
    : [`Epoch ${Math.max(1, t.epoch)} of ${t.epochs}`];
  if (t.heldout_acc !== null && t.heldout_acc !== undefined) parts.push(`held-out accuracy ${(100 * t.heldout_acc).toFixed(0)}%`);
  if (t.stage === 'training' && t.left_s) parts.push(`about ${minutes(t.left_s)} left`);
  ui.status.textContent = parts.join(' · ');
}

const minutes = (s) => (s >= 90 ? `${Math.round(s / 60)} min` : `${Math.max(1, Math.round(s))} s`);

// The model is made: into the model picker (no reload), with a button to use it.
async function ready(t) {
  setModels(await api.models());
  const card = state.models.find((m) => m.id === t.model);
  const acc = card && typeof card.accuracy === 'number' ? `: ${(100 * card.accuracy).toFixed(0)}% right on the held-out photos` : '';
  ui.done.replaceChildren(
    h('p', {}, 'Your model ', h('b', {}, t.model), ` is ready${acc}. It is in the model picker; every mode works on it.`),
    h('button.primary', { type: 'button', dataset: { action: 'use' }, onclick: () => use(t.model, 'translate') }, 'Translate with it'));
  ui.done.hidden = false;
}

function use(modelId, mode) {
  const card = state.models.find((m) => m.id === modelId);
  if (card) setModel(card, { chosen: true });
  location.hash = `#${mode}`;
}

// ---- your models ---------------------------------------------------------------------------------

function listMine() {
  const mine = state.models.filter((m) => m.own);
  if (!mine.length) {
    ui.mine.replaceChildren(h('p.hint', {}, 'None yet: the models you train appear here and in the model picker.'));
    return;
  }
  ui.mine.replaceChildren(...mine.map((m) => h('div.own-model', { dataset: { model: m.id } },
    h('div', {}, h('b', {}, m.id), h('small.hint', {}, ` ${m.classes.join(', ')}`
      + (typeof m.accuracy === 'number' ? ` · ${(100 * m.accuracy).toFixed(0)}% held-out` : ''))),
    h('button', { type: 'button', dataset: { action: 'use' }, onclick: () => use(m.id, 'translate') }, 'Use'),
    h('button.link', { type: 'button', dataset: { action: 'delete' }, onclick: () => remove(m) }, 'Delete'))));
}

async function remove(card) {
  if (!window.confirm(`Delete your model “${card.id}” and its photos from the server?`)) return;
  try {
    await api.deleteModel(card.id);
    setModels(await api.models());
  } catch (err) {
    showError(err.message);
  }
}
