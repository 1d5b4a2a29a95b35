// Paint with features: brush a region, choose a feature from the palette, apply; repeat.
import * as api from '../api.js';
import { PhotoBoard } from '../board/photo-board.js';
import { on } from '../bus.js';
import { loadImage } from '../images.js';
import { state, inputSize, classes } from '../store.js';
import { h } from '../ui/dom.js';
import { layout, photoHint, stage, step } from '../ui/layout.js';
import { featurePalette } from '../ui/palette.js';
import { runPanel, UserError } from '../ui/run.js';
import { resultView } from '../ui/result.js';
import { advancedSettings, brushToolbar, imageSource } from '../ui/widgets.js';
import { registerMode } from './registry.js';

const id = 'paint';

export const paint = registerMode({
  id,
  label: 'Paint',
  board: null,
  activate: null,  // set by mount: the palette loads when the mode is first shown with a model
  mount,
  openImage: (src) => paint.board.load(src),
});

function mount(section) {
  const st = stage('Start from an image: upload one, drop one here, pick one from the gallery, or make a random one.');
  const board = new PhotoBoard(st.el, { inputSize: inputSize(), label: 'Image to paint on' });
  paint.board = board;
  board.onChange(() => st.hideHint(board.hasPicture));
  const fit = photoHint(board);
  const toolbar = brushToolbar(board, { tools: ['region', 'unregion'], colors: false, onClear: () => board.clearMask() });
  const palette = featurePalette(section);
  const { run, painted, silent, result } = applyPanel(board, palette);
  const source = imageSource((src) => board.load(src), { dropTarget: st.el, onError: (m) => run.showError(m) });
  const random = h('button', { type: 'button', onclick: () => randomStart(board, random, run) }, 'Random image');
  source.el.append(random);
  layout(section, {
    title: 'Paint with features',
    intro: 'Brush a region and pick a feature (a texture or part the classifier knows, named after the class it drives and how it looks); the model paints it in there and keeps the rest.',
    left: [step(1, 'Get an image and brush a region'), source.el, toolbar.el, st.el, fit,
      h('p.hint', {}, 'Each “Apply” lands on the canvas; Undo (Ctrl+Z) steps back through them.')],
    right: [step(2, 'Choose a feature'), palette.chosen, palette.el, step(3, 'Apply it'), run.el, painted, silent, result.el],
  });
  on('model', () => { board.setInputSize(inputSize()); palette.load(); });
  paint.activate = palette.load;
}

// The run panel: sends the picture, the region and the chosen feature; the result lands on the
// canvas (which takes no strokes meanwhile), and a result that barely differs says so.
function applyPanel(board, palette) {
  // A feature the brushed region does not respond to changes nothing: say so instead of nothing.
  const silent = h('p.hint', { hidden: true, role: 'status' },
    'That feature barely shows in the brushed region: undo and try another one, or a bigger region.');
  const result = resultView({ task: id, title: 'Latest result', empty: 'Each applied stroke shows here and lands on the canvas.', except: id });
  const painted = h('p.painted', { hidden: true, role: 'status' });  // "painted: church · grey vertical stripes"
  let sent = null, chosen = null;
  const run = runPanel({
    task: id, goLabel: 'Apply feature', advanced: advancedSettings(id), result,
    onRunning: (running) => board.setDisabled(running),
    build: () => {
      if (!board.hasPicture) throw new UserError('Load or make an image first.');
      if (board.maskIsEmpty()) throw new UserError('Brush the region to paint first.');
      if (palette.feature() === null) throw new UserError('Choose a feature from the palette first.');
      silent.hidden = true;
      sent = board.imageDataURL();
      chosen = palette.feature();
      return { image: sent, mask: board.maskDataURL(), feature: chosen };
    },
    onDone: async (r) => {
      if (!r.images?.[0]) return;
      painted.textContent = `painted: ${palette.describe(chosen)}`;
      painted.hidden = false;
      board.load(r.images[0]);
      silent.hidden = await differs(sent, r.images[0]).catch(() => true);
    },
  });
  return { run, painted, silent, result };
}

// A quick generated start image of a random class.
async function randomStart(board, button, run) {
  const names = classes();
  button.disabled = true;
  try {
    const body = { class: names[Math.floor(Math.random() * names.length)] ?? 0, n: 1, seed: Math.floor(Math.random() * 1e6) };
    if (state.card) body.model = state.card.id;
    const job = await api.startTask('generate', body);
    await new Promise((resolve, reject) => api.watch(job, {
      done: (j) => (j.result?.images?.[0] ? resolve(board.load(j.result.images[0])) : reject(new Error('no image'))),
      failed: (m) => reject(new Error(m)), cancelled: () => resolve(),
    }));
  } catch (err) {
    run.showError(`Could not make a random image: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

// Whether two same-size images differ by more than rounding.
async function differs(a, b) {
  const [x, y] = await Promise.all([a, b].map(loadImage));
  if (x.naturalWidth !== y.naturalWidth || x.naturalHeight !== y.naturalHeight) return true;
  const [px, py] = [x, y].map(pixels);
  return px.some((v, i) => Math.abs(v - py[i]) > 2);
}

function pixels(img) {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(img, 0, 0);
  return ctx.getImageData(0, 0, c.width, c.height).data;
}
