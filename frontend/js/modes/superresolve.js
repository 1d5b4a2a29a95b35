// Super-resolution: upsample an image and let the classifier sharpen the new pixels.
import { squareDataURL } from '../board.js';
import { inputSize } from '../store.js';
import { h, field } from '../ui/dom.js';
import { layout, sourceView, step } from '../ui/layout.js';
import { runPanel, UserError } from '../ui/run.js';
import { resultView } from '../ui/result.js';
import { advancedSettings, classPicker, imageSource } from '../ui/widgets.js';

export const id = 'superresolve';
export const label = 'Upscale';
let view;

// Small images go at their own size; bigger ones are shrunk to the model's input size first.
const sentSide = (img) => Math.min(inputSize(), img.naturalWidth, img.naturalHeight);

export function mount(section) {
  let run, advanced;
  view = sourceView('Upload a small image, drop one here, or pick one from the gallery.',
    { sentSide, onLoad: () => advanced.refresh() });
  const source = imageSource((src) => view.set(src), { dropTarget: view.el, onError: (m) => run.showError(m) });
  const factor = h('select', { name: 'factor' }, [2, 4, 8].map((f) => h('option', { value: String(f), selected: f === 4 }, `${f}×`)));
  // The step size and radius defaults grow with the result: its side / the model's input size.
  const scale = () => {
    const side = view.get()?.naturalWidth ? sentSide(view.get()) : inputSize();  // no image yet: a big one
    return (side * Number(factor.value)) / inputSize();
  };
  advanced = advancedSettings(id, { scale });
  factor.addEventListener('change', () => advanced.refresh());
  const cls = classPicker({ label: 'Sharpen it as', auto: 'What the model sees (automatic)' });
  const result = resultView({ task: id, title: 'Upscaled', empty: 'Choose a factor and press “Upscale”.' });
  run = runPanel({
    task: id, goLabel: 'Upscale', advanced,
    build: () => {
      if (!view.get()) throw new UserError('Load an image first.');
      const body = { image: squareDataURL(view.get(), sentSide(view.get())), factor: Number(factor.value) };
      if (cls.value()) body.class = cls.value();
      return body;
    },
    result,
  });
  layout(section, {
    title: 'Super-resolution',
    intro: 'Enlarge a small picture 2–8× and let the classifier fill in plausible detail.',
    left: [step(1, 'Load a small image'), source.el, view.el],
    right: [step(2, 'Upscale'), field('Factor', factor), cls.el, run.el, result.el],
  });
}

export function openImage(src) { view.set(src); }
