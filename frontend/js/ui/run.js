// Running a task: the Go/Stop buttons, progress bar, in-place errors, and the result view.
import * as api from '../api.js';
import { state, addToGallery, classes } from '../store.js';
import { h } from './dom.js';
import { openInButtons } from './gallery.js';

export class UserError extends Error {}

// build() -> request body (may throw UserError); previews and results go to `result` (a
// resultView), then onDone(result).
export function runPanel({ task, goLabel, build, advanced, result: view, onDone }) {
  const go = h('button.primary.go', { type: 'button', dataset: { action: 'go' } }, goLabel);
  const stopBtn = h('button.stop', { type: 'button', dataset: { action: 'stop' }, disabled: true }, 'Stop');
  const bar = h('progress', { max: '1', value: '0', 'aria-label': 'Progress' });
  const status = h('span.status', { 'aria-live': 'polite' }, 'Ready.');
  const error = h('div.error', { role: 'alert', hidden: true });
  const el = h('div.run', {}, advanced?.el, h('div.run-buttons', {}, go, stopBtn),
    h('div.progress-row', {}, bar, status), error);
  let job = null, lastStep = null;

  const setRunning = (running) => {
    go.disabled = running;
    stopBtn.disabled = !running;
    el.classList.toggle('running', running);
  };
  const showError = (msg) => { error.textContent = msg; error.hidden = !msg; };
  // Highlight the control the server complained about (null: clear the highlights).
  const markInvalid = (field) => {
    const mode = el.closest('.mode') || el;
    mode.querySelectorAll('[aria-invalid]').forEach((c) => c.removeAttribute('aria-invalid'));
    if (field && !advanced?.markInvalid(field)) mode.querySelector(`[name="${CSS.escape(field)}"]`)?.setAttribute('aria-invalid', 'true');
  };
  const end = (text) => {
    status.textContent = text;
    setRunning(false);
    job = null;
  };

  async function start() {
    showError('');
    markInvalid(null);
    let body;
    try {
      body = { ...build(), ...(advanced ? advanced.values() : {}) };
      if (state.card) body.model = state.card.id;
    } catch (err) {
      if (err instanceof UserError) return showError(err.message);
      throw err;
    }
    setRunning(true);
    bar.removeAttribute('value');  // indeterminate until the first progress event
    status.textContent = 'Sending…';
    try {
      job = await api.startTask(task, body);
    } catch (err) {
      markInvalid(err.field);
      showError(err.message);
      bar.value = 0;
      return end('Not started.');
    }
    status.textContent = 'Queued…';
    lastStep = null;
    api.watch(job, {
      progress: ({ step, total }) => {
        if (!total) return;
        lastStep = step;
        bar.max = total;
        bar.value = step;
        status.textContent = `Step ${step} of ${total}`;
      },
      preview: (p) => {
        const images = p.images || (p.image ? [p.image] : []);  // the contract sends `images`
        if (images.length) view?.preview(images, p.step ?? lastStep);
      },
      done: (result) => {
        bar.value = bar.max;
        view?.show(result || { images: [] });
        onDone?.(result || { images: [] });
        addToGallery((result?.images || []).map((image, i) => ({ image, task, label: `${task}: ${className(result, i)}` })));
        end('Done.');
      },
      failed: (msg) => { showError(sentence(msg)); end('Failed.'); },
      cancelled: () => { const kept = view?.stopped(); end(kept ? 'Stopped; the last preview is kept.' : 'Stopped.'); },
    });
  }

  async function stop() {
    if (!job) return;
    stopBtn.disabled = true;
    status.textContent = 'Stopping…';
    try { await api.cancel(job.id); } catch (err) { showError(err.message); }
  }

  go.addEventListener('click', start);
  stopBtn.addEventListener('click', stop);
  return { el, showError };
}

// The server's messages start in lower case ("the job failed: …").
const sentence = (msg) => msg.charAt(0).toUpperCase() + msg.slice(1);

export function className(result, i) {
  if (result?.class_names?.[i]) return result.class_names[i];
  const c = result?.classes?.[i];
  if (c === undefined || c === null) return '';
  return typeof c === 'number' ? (classes()[c] ?? String(c)) : String(c);
}

// ---- results --------------------------------------------------------------------------------------
// A large, pixel-crisp view of one or many images with their true size, download and "Edit in".
export function resultView({ task, title = 'Result', empty = 'Your result appears here.', extraActions, except, grid = false }) {
  const body = h('div.result-body', {}, h('div.placeholder', {}, empty));
  const actions = h('div.result-actions');
  const el = h('section.result', { 'aria-label': title }, h('h3', {}, title), body, actions);
  let lastPreview = null;

  const figure = (src, caption, i) => {
    const img = h('img.pixelated', { src, alt: caption || title });
    const size = h('small.true-size');
    img.addEventListener('load', () => {
      const shown = img.clientWidth ? Math.round(img.clientWidth / img.naturalWidth) : null;
      size.textContent = `${img.naturalWidth} × ${img.naturalHeight} px${shown && shown > 1 ? ` · shown ${shown}×` : ''}`;
    });
    const fig = h('figure', { dataset: { index: String(i) } }, img, h('figcaption', {}, caption ? h('span', {}, caption) : null, size));
    if (grid) fig.addEventListener('click', () => choose(i));
    return fig;
  };
  const choose = (i) => {
    [...body.querySelectorAll('figure')].forEach((f) => f.classList.toggle('selected', f.dataset.index === String(i)));
    const src = body.querySelectorAll('figure img')[i]?.src;
    if (!src) return actions.replaceChildren();
    const dl = h('a.button', { href: src, download: `robust-canvas-${task}-${i + 1}.png` }, '⬇ Download PNG');
    const many = grid && body.querySelectorAll('figure').length > 1;
    actions.replaceChildren(...(many ? [h('p.hint', {}, 'Click an image to choose it.')] : []), dl,
      ...(extraActions ? extraActions(src) : []), openInButtons(() => src, { except }));
  };
  return {
    el,
    preview(images, step) {
      lastPreview = { images, step };
      const caption = `Preview · step ${step ?? '…'}`;
      const shown = body.classList.contains('is-preview') ? body.querySelectorAll('figure') : [];
      if (shown.length === images.length) {  // swap the pictures in place: no layout jumps
        shown.forEach((f, i) => { f.querySelector('img').src = images[i]; f.querySelector('figcaption span').textContent = caption; });
        return;
      }
      body.classList.add('is-preview');
      body.classList.toggle('grid', grid && images.length > 1);
      body.replaceChildren(...images.map((src, i) => figure(src, caption, i)));
      actions.replaceChildren();
    },
    // After a stop: the last previews become results that can be downloaded or edited.
    stopped() {
      if (!lastPreview) return false;
      const { images, step } = lastPreview;
      body.classList.remove('is-preview');
      body.replaceChildren(...images.map((src, i) => figure(src, `Stopped at step ${step ?? '?'}`, i)));
      choose(0);
      lastPreview = null;
      return true;
    },
    show(result) {
      lastPreview = null;
      const images = result.images || [];
      body.classList.remove('is-preview');
      body.classList.toggle('grid', grid && images.length > 1);
      body.replaceChildren(...images.map((src, i) => figure(src, className(result, i) && `Model sees: ${className(result, i)}`, i)));
      if (!images.length) body.replaceChildren(h('div.placeholder', {}, 'The job returned no images.'));
      choose(0);
    },
  };
}
