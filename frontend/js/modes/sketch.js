// Sketch to image: draw, pick a class, watch the classifier turn the sketch into that class.
import { Board } from '../board/board.js';
import { on } from '../bus.js';
import { inputSize } from '../store.js';
import { h } from '../ui/dom.js';
import { layout, stage, step } from '../ui/layout.js';
import { runPanel, UserError } from '../ui/run.js';
import { resultView } from '../ui/result.js';
import { advancedSettings, brushToolbar, classPicker } from '../ui/widgets.js';
import { registerMode } from './registry.js';

const id = 'sketch';

export const sketch = registerMode({
  id,
  label: 'Sketch',
  board: null,
  mount,
  openImage: (src) => sketch.board.load(src),
});

function mount(section) {
  const st = stage();
  const board = new Board(st.el, { inputSize: inputSize(), label: 'Sketch canvas', brush: 2.5 });
  sketch.board = board;
  const toolbar = brushToolbar(board, { tools: ['pen', 'eraser', 'fill'] });
  const cls = classPicker({ label: 'Turn it into a', initial: ['horse', 'church'] });
  const result = resultView({
    task: id, title: 'Result', except: id, empty: 'Draw a sketch, choose a class, then press “Make it real”.',
    extraActions: (src) => [h('button', { type: 'button', onclick: () => board.load(src) }, '✎ Draw on this result')],
  });
  const run = runPanel({
    task: id, goLabel: 'Make it real', advanced: advancedSettings(id),
    build: () => {
      if (board.isBlank()) throw new UserError('Draw something on the canvas first.');
      return { class: cls.value(), image: board.imageDataURL() };
    },
    result,
  });
  layout(section, {
    title: 'Sketch to image',
    intro: 'Draw a rough colour sketch, pick what it should become, and the robust classifier paints the details in.',
    left: [step(1, 'Draw'), toolbar.el, st.el,
      h('p.hint', {}, 'Tip: big areas of colour work best. Undo (Ctrl+Z) also takes you back from a result to your sketch.')],
    right: [step(2, 'Choose a class and go'), cls.el, run.el, result.el],
  });
  on('model', () => board.setInputSize(inputSize()));
}
