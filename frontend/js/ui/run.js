// Running a task: the Go/Stop buttons, progress bar and in-place errors. Previews and results
// go to a result view (result.js). A reproduced PNG's job (the 'rerun' event, ui/rerun.js) is
// followed by the mode of its task in the same way.
import * as api from '../api.js';
import { on } from '../bus.js';
import { addResults } from '../gallery.js';
import { state } from '../store.js';
import { h } from './dom.js';
import { className } from './result.js';

export class UserError extends Error {}

// build() -> request body (may throw UserError); previews and results go to `result` (a
// resultView), then onDone(result); onRunning(running) hears when a job starts and ends here.
// Returns {el, showError}.
export function runPanel(options) {
  const runner = new Runner(options);
  return { el: runner.el, showError: (msg) => runner.showError(msg) };
}

class Runner {
  constructor({ task, goLabel, build, advanced, result, onDone, onRunning }) {
    Object.assign(this, { task, build, advanced, view: result, onDone, onRunning, job: null, lastStep: null, reproducing: false });
    this.go = h('button.primary.go', { type: 'button', dataset: { action: 'go' }, onclick: () => this.start() }, goLabel);
    this.stopBtn = h('button.stop', { type: 'button', dataset: { action: 'stop' }, disabled: true, onclick: () => this.stop() }, 'Stop');
    this.bar = h('progress', { max: '1', value: '0', 'aria-label': 'Progress' });
    this.status = h('span.status', { 'aria-live': 'polite' }, 'Ready.');
    this.error = h('div.error', { role: 'alert', hidden: true });
    this.el = h('div.run', {}, advanced?.el, h('div.run-buttons', {}, this.go, this.stopBtn),
      h('div.progress-row', {}, this.bar, this.status), this.error);
    on('rerun', ({ task: t, started, name }) => t === task && this.follow(started, `Reproduced from ${name}`));
  }

  setRunning(running) {
    this.go.disabled = running;
    this.stopBtn.disabled = !running;
    this.el.classList.toggle('running', running);
    this.onRunning?.(running);
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
    this.sent = typeof body.image === 'string' ? body.image : null;  // the "before" of the result
    this.setRunning(true);
    this.bar.removeAttribute('value');  // indeterminate until the first progress event
    this.status.textContent = 'Sending…';
    let started;
    try {
      started = await api.startTask(this.task, body);
    } catch (err) {
      this.markInvalid(err.field);
      this.showError(err.message);
      this.bar.value = 0;
      return this.end('Not started.');
    }
    this.reproducing = false;
    this.view?.note('');
    this.watch(started);
  }

  // A job started elsewhere (a reproduced PNG), followed as if started here; note says from what.
  follow(started, note) {
    if (this.go.disabled) {  // one job at a time here: the newcomer goes
      api.cancel(started.id).catch(() => {});
      return this.showError('A job is running here: stop it first, then drop the PNG again.');
    }
    this.showError('');
    this.markInvalid(null);
    this.setRunning(true);
    this.bar.removeAttribute('value');
    this.reproducing = true;
    this.view?.note(note);
    this.watch(started);
  }

  watch(started) {
    this.job = started;
    this.status.textContent = 'Queued…';
    this.lastStep = null;
    api.watch(started, this.handlers());
  }

  handlers() {
    return {
      progress: ({ step, total }) => this.progress(step, total),
      preview: (p) => {
        const images = p.images || (p.image ? [p.image] : []);  // the contract sends `images`
        if (images.length) this.view?.preview(images, p.step ?? this.lastStep);
      },
      done: (job) => this.done(job),
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

  // job: the finished job, with its result and the recipe that made it.
  done(job) {
    const result = job.result || { images: [] };
    this.bar.value = this.bar.max;
    this.view?.show(result, job.recipe, { before: this.reproducing ? null : this.sent });
    if (!this.reproducing) this.onDone?.(result);  // e.g. paint's canvas keeps the user's own work
    addResults((result.images || []).map((image, i) => ({ image, task: this.task, label: `${this.task}: ${className(result, i)}` })));
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
