// Reproducing a robust-canvas PNG: the server reruns the recipe in its text chunks
// (POST /api/rerun), and the mode of the job's task follows the job (the 'rerun' event) as if it
// had been started there. A PNG can be dropped anywhere on the page or chosen with a button.
import * as api from '../api.js';
import { emit } from '../bus.js';
import { readDataURL } from '../images.js';
import { h } from './dom.js';

const RECIPE_KEY = 'robust-canvas';  // the text chunk with the recipe (server/synthesis/recipes.py)
const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const TEXT_CHUNKS = ['tEXt', 'zTXt', 'iTXt'];

// Whether a file is a PNG with a recipe chunk: read here, so that other pictures never make a
// round trip the server would refuse.
async function hasRecipe(file) {
  if (!file) return false;
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (!PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return false;
  const view = new DataView(bytes.buffer);
  const ascii = (from, to) => String.fromCharCode(...bytes.subarray(from, to));
  const key = `${RECIPE_KEY}\0`;  // a text chunk starts with its keyword and a NUL
  for (let pos = 8; pos + 8 <= bytes.length; pos += 12 + view.getUint32(pos)) {
    const type = ascii(pos + 4, pos + 8);
    if (type === 'IEND') break;
    if (TEXT_CHUNKS.includes(type) && ascii(pos + 8, pos + 8 + key.length) === key) return true;
  }
  return false;
}

// Starts the rerun of a robust-canvas PNG and hands the job to its mode. Resolves false when the
// file has no recipe; throws ApiError when the server refuses it (422: e.g. an unknown model).
async function rerunFile(file) {
  if (!(await hasRecipe(file))) return false;
  const started = await api.rerun(await readDataURL(file));
  const { task } = await api.job(started.id);
  emit('rerun', { task, started, name: file.name });
  return true;
}

// The server's reason, without the field name: the PNG is all the user gave.
const why = (err) => (err.field === 'png' ? err.message.replace(/^png: /, '') : err.message);

// For a drop target with another use: true once the file is being reproduced; false (with the
// reason through onError when there was a recipe) to let the target use it as a picture.
export async function reproduceOr(file, onError) {
  try {
    return await rerunFile(file);
  } catch (err) {
    onError(`Could not reproduce ${file.name} (${why(err)}); it is used as a picture instead.`);
    return false;
  }
}

// Drops nowhere else handled (no image target there): reproduce, or say why not.
export function rerunDrops(onError) {
  document.addEventListener('dragover', (e) => e.preventDefault());  // else the browser opens the file
  document.addEventListener('drop', (e) => {
    if (e.defaultPrevented) return;  // an image target took it
    e.preventDefault();
    const file = e.dataTransfer.files[0];
    if (file) reproduce(file, onError);
  });
}

// "Rerun a PNG…": the same, from a file picker.
export function rerunButton(onError) {
  const file = h('input', { type: 'file', accept: 'image/png', hidden: true });
  file.addEventListener('change', () => { if (file.files[0]) reproduce(file.files[0], onError); file.value = ''; });
  const button = h('button.rerun', {
    type: 'button', 'aria-label': 'Rerun a PNG', onclick: () => file.click(),
    title: 'Make a robust-canvas PNG again from the recipe it carries (or drop it on the page)',
  }, h('span', { 'aria-hidden': 'true' }, '↻'), h('span.rerun-label', { 'aria-hidden': 'true' }, 'Rerun a PNG…'));
  return h('span.rerun-picker', {}, button, file);
}

async function reproduce(file, onError) {
  try {
    if (!(await rerunFile(file))) onError(`${file.name} has no robust-canvas recipe: there is nothing to reproduce.`);
  } catch (err) {
    onError(`Could not reproduce ${file.name}: ${why(err)}.`);
  }
}
