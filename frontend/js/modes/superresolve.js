// Super-resolution: upsample an image and let the classifier sharpen the new pixels.
import { RESULT_MAX, fitSize } from '../photo.js';
import { naturalSize } from '../resample.js';
import { inputSize } from '../store.js';
import { h, field } from '../ui/dom.js';
import { layout, sourceView, step } from '../ui/layout.js';
import { runPanel, UserError } from '../ui/run.js';
import { resultView } from '../ui/result.js';
import { advancedSettings, classPicker, imageSource } from '../ui/widgets.js';
import { registerMode } from './registry.js';

const id = 'superresolve';
let view;  // the source photo (sourceView), made by mount

export const superresolve = registerMode({ id, label: 'Upscale', mount, openImage: (src) => view.set(src) });

// The result is factor times the photo, at most RESULT_MAX times the model's input size a side
// (docs/API.md): a photo goes at its own size when that fits, else shrunk until it does.
let factor;
const maxSide = () => Math.floor((RESULT_MAX * inputSize()) / Number(factor.value));
// The side of the square with the sent photo's area.
const sentSide = (img) => {
  const { width, height } = naturalSize(img), fit = fitSize(width, height, maxSide());
  return Math.sqrt(fit.width * fit.height);
};

function mount(section) {
  let run, advanced;
  view = sourceView('Upload a small image or a photo, drop one here, or pick one from the gallery.',
    { maxSide, onLoad: () => advanced.refresh(),
      why: () => `so that ${factor.value}× stays within ${RESULT_MAX * inputSize()} px a side, the most this server makes for this model` });
  const source = imageSource((src) => view.set(src), { dropTarget: view.el, onError: (m) => run.showError(m) });
  factor = h('select', { name: 'factor' }, [2, 4, 8].map((f) => h('option', { value: String(f), selected: f === 4 }, `${f}×`)));
  // The step size and radius defaults grow with the result: its side / the model's input size.
  const scale = () => {
    const side = view.get()?.naturalWidth ? sentSide(view.get()) : inputSize();  // no image yet: a big one
    return (side * Number(factor.value)) / inputSize();
  };
  advanced = advancedSettings(id, { scale });
  factor.addEventListener('change', () => { advanced.refresh(); view.refresh(); });
  const cls = classPicker({ label: 'Sharpen it as', auto: 'What the model sees (automatic)' });
  const result = resultView({ task: id, title: 'Upscaled', empty: 'Choose a factor and press “Upscale”.' });
  run = runPanel({
    task: id, goLabel: 'Upscale', advanced,
    build: () => {
      if (!view.get()) throw new UserError('Load an image first.');
      const body = { image: view.photo(), factor: Number(factor.value) };
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
