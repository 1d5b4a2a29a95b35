// Inpainting: load an image, brush over the damaged part, and let the model restore it.
import { PhotoBoard } from '../board/photo-board.js';
import { on } from '../bus.js';
import { inputSize } from '../store.js';
import { h } from '../ui/dom.js';
import { layout, photoHint, stage, step } from '../ui/layout.js';
import { runPanel, UserError } from '../ui/run.js';
import { resultView } from '../ui/result.js';
import { advancedSettings, brushToolbar, classPicker, imageSource } from '../ui/widgets.js';
import { registerMode } from './registry.js';

const id = 'inpaint';

export const inpaint = registerMode({
  id,
  label: 'Inpaint',
  board: null,
  mount,
  openImage: (src) => inpaint.board.load(src),
});

function mount(section) {
  const st = stage('Upload an image, drop one here, or pick one from the gallery.');
  const board = new PhotoBoard(st.el, { inputSize: inputSize(), label: 'Image to restore' });
  inpaint.board = board;
  board.onChange(() => st.hideHint(board.hasPicture));
  const fit = photoHint(board);
  const toolbar = brushToolbar(board, { tools: ['region', 'unregion'], colors: false, onClear: () => board.clearMask() });
  let run;
  const source = imageSource((src) => board.load(src), { dropTarget: st.el, onError: (m) => run.showError(m) });
  const cls = classPicker({ label: 'Restore it as', auto: 'What the model sees (automatic)' });
  const result = resultView({
    task: id, title: 'Restored', except: id, empty: 'Brush over the part to restore (shown in pink), then press “Restore”.',
    extraActions: (src) => [h('button', { type: 'button', onclick: () => board.load(src) }, '✎ Keep editing this')],
  });
  run = runPanel({
    task: id, goLabel: 'Restore', advanced: advancedSettings(id),
    build: () => {
      if (!board.hasPicture) throw new UserError('Load an image first: upload one or pick one from the gallery.');
      if (board.maskIsEmpty()) throw new UserError('Brush over the region to restore first.');
      const body = { image: board.imageDataURL(), mask: board.maskDataURL() };
      if (cls.value()) body.class = cls.value();
      return body;
    },
    result,
  });
  layout(section, {
    title: 'Inpainting',
    intro: 'Fill in a damaged or missing part of a picture so that it fits the rest.',
    left: [step(1, 'Load an image and mark the region'), source.el, toolbar.el, st.el, fit],
    right: [step(2, 'Restore'), cls.el, run.el, result.el],
  });
  on('model', () => board.setInputSize(inputSize()));
}
