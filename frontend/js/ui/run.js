// Running a task: the Go/Stop buttons, progress bar and in-place errors. Previews and results
// go to a result view (result.js).
import * as api from '../api.js';
import { state, addToGallery } from '../store.js';
import { h } from './dom.js';
import { className } from './result.js';

export class UserError extends Error {}

// build() -> request body (may throw UserError); previews and results go to `result` (a
// resultView), then onDone(result). Returns {el, showError}.
export function runPanel(options) {
  const runner = new Runner(options);
  return { el: runner.el, showError: (msg) => runner.showError(msg) };
}

class Runner {
  constructor({ task, goLabel, build, advanced, result, onDone }) {
    Object.assign(this, { task, build, advanced, view: result, onDone, job: null, lastStep: null });
    this.go = h('button.primary.go', { type: 'button', dataset: { action: 'go' }, onclick: () => this.start() }, goLabel);
    this.stopBtn = h('button.stop', { type: 'button', dataset: { action: 'stop' }, disabled: true, onclick: () => this.stop() }, 'Stop');
    this.bar = h('progress', { max: '1', value: '0', 'aria-label': 'Progress' });
    this.status = h('span.status', { 'aria-live': 'polite' }, 'Ready.');
    this.error = h('div.error', { role: 'alert', hidden: true });
    this.el = h('div.run', {}, advanced?.el, h('div.run-buttons', {}, this.go, this.stopBtn),
      h('div.progress-row', {}, this.bar, this.status), this.error);
  }

  setRunning(running) {
    this.go.disabled = running;
    this.stopBtn.disabled = !running;
    this.el.classList.toggle('running', running);
  }

  showError(msg) {
    this.error.textContent = msg;
    this.error.hidden = !msg;
  }

  // Highlight the control the server complained about (null: clear the highlights).
  markInvalid(field) {
    const mode = this.el.closest('.mode') || this.el;
    mode.querySelectorAll('[aria-invalid]').forEach((c) => c.removeAttribute('aria-invalid'));
    if (field && !this.advanced?.markInvalid(field)) mode.querySelector(`[name="${CSS.escape(field)}"]`)?.setAttribute('aria-invalid', 'true');
  }

  end(text) {
    this.status.textContent = text;
    this.setRunning(false);
    this.job = null;
  }

  // The request body, or null once the reason it cannot be sent is shown.
  body() {
    try {
      const body = { ...this.build(), ...(this.advanced ? this.advanced.values() : {}) };
      if (state.card) body.model = state.card.id;
      return body;
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      this.showError(err.message);
      return null;
    }
  }

  async start() {
    this.showError('');
    this.markInvalid(null);
    const body = this.body();
    if (!body) return;
    this.setRunning(true);
    this.bar.removeAttribute('value');  // indeterminate until the first progress event
    this.status.textContent = 'Sending…';
    try {
      this.job = await api.startTask(this.task, body);
    } catch (err) {
      this.markInvalid(err.field);
      this.showError(err.message);
      this.bar.value = 0;
      return this.end('Not started.');
    }
    this.status.textContent = 'Queued…';
    this.lastStep = null;
    api.watch(this.job, this.handlers());
  }

  handlers() {
    return {
      progress: ({ step, total }) => this.progress(step, total),
      preview: (p) => {
        const images = p.images || (p.image ? [p.image] : []);  // the contract sends `images`
        if (images.length) this.view?.preview(images, p.step ?? this.lastStep);
      },
      done: (result) => this.done(result || { images: [] }),
      failed: (msg) => { this.showError(sentence(msg)); this.end('Failed.'); },
      cancelled: () => this.end(this.view?.stopped() ? 'Stopped; the last preview is kept.' : 'Stopped.'),
    };
  }

  progress(step, total) {
    if (!total) return;
    this.lastStep = step;
    this.bar.max = total;
    this.bar.value = step;
    this.status.textContent = `Step ${step} of ${total}`;
  }

  done(result) {
    this.bar.value = this.bar.max;
    this.view?.show(result);
    this.onDone?.(result);
    addToGallery((result.images || []).map((image, i) => ({ image, task: this.task, label: `${this.task}: ${className(result, i)}` })));
    this.end('Done.');
  }

  async stop() {
    if (!this.job) return;
    this.stopBtn.disabled = true;
    this.status.textContent = 'Stopping…';
    try { await api.cancel(this.job.id); } catch (err) { this.showError(err.message); }
  }
}

// The server's messages start in lower case ("the job failed: …").
const sentence = (msg) => msg.charAt(0).toUpperCase() + msg.slice(1);
