// Generation: images of a class from random seeds; pick one to edit in another mode.
import { h, field } from '../ui/dom.js';
import { layout, step } from '../ui/layout.js';
import { runPanel } from '../ui/run.js';
import { resultView } from '../ui/result.js';
import { advancedSettings, classPicker } from '../ui/widgets.js';
import { registerMode } from './registry.js';

const id = 'generate';

// It takes no picture (no openImage): its results are opened in the other modes.
export const generate = registerMode({ id, label: 'Generate', mount });

function mount(section) {
  const cls = classPicker({ label: 'Class', initial: ['dog', 'english_springer'] });
  const n = h('input', { type: 'number', name: 'n', min: '1', max: '16', value: '8' });
  const seed = h('input', { type: 'number', name: 'seed', min: '0', value: '0' });
  const shuffle = h('button.icon-btn', { type: 'button', title: 'New random seed',
    onclick: () => { seed.value = String(Math.floor(Math.random() * 1e6)); } }, '↻ New');
  const advanced = advancedSettings(id, { omit: ['seed'] });  // the seed is a main control here
  const result = resultView({ task: id, title: 'Results', grid: true, empty: 'Pick a class and press “Generate”.' });
  const run = runPanel({
    task: id, goLabel: 'Generate', advanced,
    build: () => ({ class: cls.value(), n: Number(n.value) || 1, seed: Number(seed.value) || 0 }),
    result,
  });
  layout(section, {
    title: 'Generate',
    intro: 'Make new images of a class from scratch. Click one to download it or to edit it further in another mode.',
    left: [step(1, 'What to make'), cls.el, h('div.row', {}, field('How many', n), field('Seed', h('span.with-btn', {}, seed, shuffle))), run.el],
    right: [result.el],
    wide: 'right',
  });
}
