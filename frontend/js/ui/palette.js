// The paint palette: the model's features grouped by the class each drives, with their names,
// searchable; each shows a crop of a real photo where it fires most (its synthetic swatch when the
// model has no names). Hovering or focusing one shows its name, classes and larger swatches.
import * as api from '../api.js';
import { pretty, scaleNicely } from '../display.js';
import { state } from '../store.js';
import { h } from './dom.js';

export const label = (f) => f.name || `feature ${f.index}`;

export function featurePalette(section) {
  const chosen = h('span.palette-chosen', {}, 'No feature chosen yet.');
  const search = h('input.palette-search', {
    type: 'search', placeholder: 'Search: a class, a colour, “stripes”…', 'aria-label': 'Search the features',
    oninput: () => filter(search.value),
  });
  const el = h('div.palette', { role: 'listbox', 'aria-label': 'Feature palette' }, h('p.hint', {}, 'Loading the palette…'));
  const preview = h('div.feature-preview', { 'aria-live': 'polite' }, h('p.hint', {}, 'Hover a feature to see it larger.'));
  let items = [], feature = null, shownFor = null, retry = null;  // shownFor: the model whose palette is shown (or loading)
  const byIndex = (k) => items.find((f) => f.index === k);
  const pick = (f, btn) => {
    feature = f.index;
    el.querySelectorAll('.feature').forEach((b) => b.setAttribute('aria-selected', String(b === btn)));
    chosen.replaceChildren('Chosen: ', scaleNicely(h('img', { src: f.crops?.[0] || f.thumbnail, alt: '' })), ` ${label(f)}`);
    show(preview, f);
  };
  const filter = (text) => {
    const words = text.toLowerCase().replace(/_/g, ' ').split(/\s+/).filter(Boolean);
    for (const group of el.querySelectorAll('.palette-group')) {
      let any = false;
      for (const btn of group.querySelectorAll('.feature')) {
        const hit = words.every((w) => btn.dataset.search.includes(w));
        btn.hidden = !hit;
        any ||= hit;
      }
      group.hidden = !any;
    }
  };
  const load = async () => {
    const modelId = state.card?.id;
    if (!modelId || section.hidden || shownFor === modelId) return;
    shownFor = modelId;
    clearTimeout(retry);
    feature = null;
    chosen.textContent = 'No feature chosen yet.';
    el.replaceChildren(h('p.hint', {}, 'Loading the palette…'));
    try {
      const got = await api.features(modelId);
      if (shownFor !== modelId) return;
      items = got;
      el.replaceChildren(...groups(items).map(([name, members]) => group(name, members, pick, (f) => show(preview, f))));
      filter(search.value);
    } catch (err) {
      if (shownFor !== modelId) return;  // the model changed meanwhile
      shownFor = null;  // try again next time
      if (err.status === 503 && err.retryAfter) {  // still being computed: say how far, and ask again
        el.replaceChildren(h('p.hint', {}, `${err.message[0].toUpperCase()}${err.message.slice(1)}.`));
        retry = setTimeout(load, err.retryAfter * 1000);
        return;
      }
      el.replaceChildren(h('p.error', {}, `Could not load the palette: ${err.message}`));
    }
  };
  el.addEventListener('mouseleave', () => (feature !== null ? show(preview, byIndex(feature)) : null));
  const wrap = h('div.palette-wrap', {}, search, el, preview);
  return { el: wrap, chosen, load, feature: () => feature, describe: (k) => (byIndex(k) ? label(byIndex(k)) : `feature ${k}`) };
}

// [group name, features] in the model's class order, features by rank; unlinked ones last.
function groups(items) {
  const order = [...(state.card?.classes || [])];
  const map = new Map();
  for (const f of items) {
    const key = f.group ?? '';
    if (!map.has(key)) map.set(key, []);
    map.get(key).push(f);
  }
  const rank = (key) => (key === '' ? Infinity : order.indexOf(key) === -1 ? order.length : order.indexOf(key));
  return [...map.entries()].sort((a, b) => rank(a[0]) - rank(b[0]))
    .map(([key, fs]) => [key, fs.sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9) || a.index - b.index)]);
}

function group(name, members, pick, hover) {
  const title = name ? pretty(name) : 'other features';
  return h('section.palette-group', { dataset: { group: name } },
    h('h4.palette-group-title', {}, title, h('small', {}, ` ${members.length}`)),
    h('div.palette-grid', {}, members.map((f) => swatch(f, pick, hover))));
}

function swatch(f, pick, hover) {
  const text = [f.index, f.name, f.colour, f.texture, ...(f.classes || []).map((c) => c.class)]
    .filter((x) => x !== null && x !== undefined).join(' ').toLowerCase().replace(/_/g, ' ');
  return h('button.feature', {
    type: 'button', role: 'option', title: label(f), 'aria-label': label(f),
    dataset: { feature: String(f.index), search: text },
    onclick: (e) => pick(f, e.currentTarget), onmouseenter: () => hover(f), onfocus: () => hover(f),
  }, scaleNicely(h('img', { src: f.crops?.[0] || f.thumbnail, alt: '', loading: 'lazy' })),
  f.crops?.length ? scaleNicely(h('img.synthetic', { src: f.thumbnail, alt: '', loading: 'lazy' })) : null);
}

// The larger view: name, the classes it drives, the synthetic swatch beside the photo crops.
function show(preview, f) {
  if (!f) return;
  const classes = (f.classes || []).map((c) => `${pretty(c.class)} ${c.weight >= 0 ? '+' : ''}${c.weight.toFixed(3)}`).join(', ');
  preview.replaceChildren(
    h('strong.feature-preview-name', {}, label(f), h('small', {}, `  #${f.index}`)),
    classes ? h('p.hint', {}, `Drives: ${classes}`) : null,
    h('div.feature-preview-swatches', {},
      h('figure', {}, scaleNicely(h('img', { src: f.thumbnail, alt: `What painting ${label(f)} adds` })), h('figcaption', {}, 'painted')),
      (f.crops || []).map((src, i) => h('figure', {}, scaleNicely(h('img', { src, alt: `Photo where ${label(f)} fires (${i + 1})` })),
        h('figcaption', {}, i ? '' : 'in photos')))));
}
