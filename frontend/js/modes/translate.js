// Translation: change what a picture shows into another class, staying close to it. The photo goes
// at its own resolution (sourceView) and the result comes back at its size.
import { layout, sourceView, step } from '../ui/layout.js';
import { runPanel, UserError } from '../ui/run.js';
import { resultView } from '../ui/result.js';
import { advancedSettings, classPicker, imageSource } from '../ui/widgets.js';
import { registerMode } from './registry.js';

const id = 'translate';
let view;  // the source photo (sourceView), made by mount

export const translate = registerMode({ id, label: 'Translate', mount, openImage: (src) => view.set(src) });

function mount(section) {
  view = sourceView('Upload an image, drop one here, or pick one from the gallery.');
  let run;
  const source = imageSource((src) => view.set(src), { dropTarget: view.el, onError: (m) => run.showError(m) });
  const cls = classPicker({ label: 'Turn it into a', initial: ['cat', 'church'] });
  const result = resultView({ task: id, title: 'Translated', empty: 'Choose the target class and press “Translate”.' });
  run = runPanel({
    task: id, goLabel: 'Translate', advanced: advancedSettings(id),
    build: () => {
      if (!view.get()) throw new UserError('Load an image first.');
      return { image: view.photo(), class: cls.value() };
    },
    result,
  });
  layout(section, {
    title: 'Image-to-image translation',
    intro: 'Turn a picture of one thing into another class while keeping its layout: a car into a truck, a church into a garbage truck.',
    left: [step(1, 'Load an image'), source.el, view.el],
    right: [step(2, 'Pick the target class'), cls.el, run.el, result.el],
  });
}
