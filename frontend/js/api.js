// Every server call lives here. Errors become ApiError with a readable message.
import { readDataURL } from './images.js';

const TOKEN_KEY = 'robust-canvas-token';

export class ApiError extends Error {
  constructor(message, status, field = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.field = field;
    this.retryAfter = retryAfter;  // seconds, from a 503's or 429's Retry-After
  }
}

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) || '',
  set: (t) => (t ? localStorage.setItem(TOKEN_KEY, t) : localStorage.removeItem(TOKEN_KEY)),
};

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  if (token.get()) h.Authorization = `Bearer ${token.get()}`;
  return h;
}

// FastAPI errors: {detail: "text"} or {detail: [{loc: ["body", "steps"], msg: "..."}]}.
export function describeError(status, body) {
  const detail = body && body.detail;
  if (Array.isArray(detail) && detail.length) {
    const parts = detail.map((d) => {
      const loc = (d.loc || []).filter((x) => x !== 'body' && x !== 'query' && x !== 'path');
      const named = loc.length && String(d.msg).startsWith(String(loc[loc.length - 1]));  // "steps must be…"
      return loc.length && !named ? `${loc.join('.')}: ${d.msg}` : String(d.msg);
    });
    const first = detail[0].loc ? detail[0].loc[detail[0].loc.length - 1] : null;
    return { message: parts.join('; '), field: typeof first === 'string' ? first : null };
  }
  if (typeof detail === 'string' && detail) return { message: detail, field: null };
  const fallback = {
    401: 'This server needs an access token: set it under “Settings” in the header.',
    403: 'The access token was refused.',
    404: 'Not found on the server.',
    429: 'The server is busy with other jobs. Try again in a moment.',
    503: 'The server is busy or still loading its model. Try again in a moment.',
  };
  return { message: fallback[status] || `The server answered ${status}.`, field: null };
}

async function request(method, path, body) {
  let res;
  try {
    res = await fetch(`/api${path}`, {
      method, headers: headers(body !== undefined),
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new ApiError('Cannot reach the server. Is it running?', 0);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!res.ok) {
    const { message, field } = describeError(res.status, data);
    throw new ApiError(message, res.status, field, Number(res.headers.get('Retry-After')) || null);
  }
  return data;
}

export const health = () => request('GET', '/health');
export const models = () => request('GET', '/models');
export const tasks = () => request('GET', '/tasks');
// The paint palette: [{index, name, group, rank, classes, thumbnail, crops, ...}]; a 503 with
// retryAfter while a model's swatches are still being computed. query: {class, q}.
export const features = (modelId, query = {}) => {
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  return request('GET', `/models/${encodeURIComponent(modelId)}/features${params.size ? `?${params}` : ''}`);
};
export const job = (id) => request('GET', `/jobs/${encodeURIComponent(id)}`);
export const cancel = (id) => request('POST', `/jobs/${encodeURIComponent(id)}/cancel`);
export const startTask = (task, body) => request('POST', `/tasks/${task}`, body);
// The server's history (a server with a result store: health().store): one's own results (an
// admin's: everyone's), newest first, a page at a time.
export const results = ({ cursor = null, limit = 24 } = {}) =>
  request('GET', `/results?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
export const deleteResult = (id) => request('DELETE', `/results/${encodeURIComponent(id)}`);
// A saved result's PNG (with its recipe) as a data URL, like a job's result images.
export async function resultImage(item) {
  const res = await fetch(item.png, { headers: headers(false) });
  if (!res.ok) throw new ApiError(describeError(res.status, null).message, res.status);
  try {
    return await readDataURL(await res.blob());
  } catch {
    throw new ApiError('Cannot read the image.', 0);
  }
}
// png: a data URL of a robust-canvas PNG; its recipe runs again (422 naming `png` when it has none).
export const rerun = (png) => request('POST', '/rerun', { png });

// Follow a job: Server-Sent Events, falling back to polling GET /jobs/{id}.
// handlers: {progress({step,total}), preview({step,images}), done(job), failed(msg), cancelled()};
// done gets the finished job ({task, result, recipe, ...}).
// Returns a function that stops watching.
export function watch(started, handlers) {
  let closed = false, es = null, timer = null;
  const finish = (kind, arg) => {
    if (closed) return;
    stop();
    handlers[kind]?.(arg);
  };
  const stop = () => {
    closed = true;
    es?.close();
    clearTimeout(timer);
  };
  const poll = async () => {
    if (closed) return;
    try {
      const j = await job(started.id);
      if (j.total) handlers.progress?.({ step: j.step, total: j.total });
      if (j.status === 'done') return finish('done', j);
      if (j.status === 'failed') return finish('failed', j.error || 'The job failed.');
      if (j.status === 'cancelled') return finish('cancelled');
    } catch (err) {
      if (err.status === 404) return finish('failed', 'The job disappeared from the server.');
    }
    timer = setTimeout(poll, 400);
  };
  const parse = (e) => { try { return JSON.parse(e.data || '{}'); } catch { return {}; } };
  const listen = async () => {
    const url = await eventsUrl(started);
    if (closed) return;
    es = new EventSource(url);
    es.addEventListener('progress', (e) => handlers.progress?.(parse(e)));
    es.addEventListener('preview', (e) => handlers.preview?.(parse(e)));
    es.addEventListener('done', (e) => finish('done', parse(e)));
    es.addEventListener('failed', (e) => finish('failed', parse(e).error || 'The job failed.'));
    es.addEventListener('cancelled', () => finish('cancelled'));
    es.onerror = () => { es.close(); es = null; if (!closed) poll(); };
  };
  if (window.EventSource) listen().catch(poll);
  else poll();
  return stop;
}

// EventSource cannot send an Authorization header, and a token in a URL lands in logs: the stream
// takes a ticket for this one job, good for a minute, from an authenticated request.
async function eventsUrl(started) {
  const id = encodeURIComponent(started.id);
  const url = new URL(started.events_url || `/api/jobs/${id}/events`, location.href);
  url.searchParams.set('ticket', (await request('POST', `/jobs/${id}/ticket`)).ticket);
  return url.href;
}

// ---- a model of your own (docs/API.md, "Your own model") ---------------------------------------
export const deleteModel = (id) => request('DELETE', `/models/${encodeURIComponent(id)}`);
export const createUpload = () => request('POST', '/uploads');
// photos: [{name, data: data URL}] of one class, under the server's body limit.
export const addPhotos = (uploadId, className, photos) =>
  request('POST', `/uploads/${encodeURIComponent(uploadId)}/photos`, { class: className, photos });
export const deleteUpload = (id) => request('DELETE', `/uploads/${encodeURIComponent(id)}`);
// body: {upload, name, base?, epochs?} -> the training (202); 429 with retryAfter when the queue is full.
export const startTraining = (body) => request('POST', '/trainings', body);
export const training = (id) => request('GET', `/trainings/${encodeURIComponent(id)}`);
export const cancelTraining = (id) => request('POST', `/trainings/${encodeURIComponent(id)}/cancel`);

// Follow a training: {progress(t), done(t), failed(message), cancelled(t)}, t being the training
// ({status, stage, epoch, epochs, heldout_acc, left_s, ...}). Server-Sent Events, else polling.
// Returns a function that stops watching.
export function watchTraining(started, handlers) {
  let closed = false, es = null, timer = null;
  const finish = (t) => {
    if (closed) return;
    stop();
    if (t.status === 'done') handlers.done?.(t);
    else if (t.status === 'failed') handlers.failed?.(t.error || 'The training failed.');
    else handlers.cancelled?.(t);
  };
  const stop = () => { closed = true; es?.close(); clearTimeout(timer); };
  const poll = async () => {
    if (closed) return;
    try {
      const t = await training(started.id);
      if (['done', 'failed', 'cancelled'].includes(t.status)) return finish(t);
      handlers.progress?.(t);
    } catch (err) {
      if (err.status === 404) return handlers.failed?.('The training disappeared from the server.');
    }
    timer = setTimeout(poll, 1000);
  };
  const parse = (e) => { try { return JSON.parse(e.data || '{}'); } catch { return {}; } };
  const listen = async () => {
    // A ticket for this one training, as for a job's stream (eventsUrl): never the token in a URL.
    const id = encodeURIComponent(started.id);
    const url = new URL(started.events_url || `/api/trainings/${id}/events`, location.href);
    url.searchParams.set('ticket', (await request('POST', `/trainings/${id}/ticket`)).ticket);
    if (closed) return;
    es = new EventSource(url.href);
    es.addEventListener('progress', (e) => handlers.progress?.(parse(e)));
    for (const end of ['done', 'failed', 'cancelled']) es.addEventListener(end, (e) => finish(parse(e)));
    es.onerror = () => { es.close(); es = null; if (!closed) poll(); };
  };
  if (window.EventSource) listen().catch(poll);
  else poll();
  return stop;
}
