// The registry of the canvas's modes (its tabs). A mode registers itself when its module is
// imported (modes/index.js imports them all, in tab order); the header's tabs, the keyboard
// shortcuts and every "Edit in" button read this one list.

/**
 * What a mode is: one tab of the canvas, a page of its own.
 * @typedef {object} Mode
 * @property {string} id  its name in the address (#id) and in the DOM (#tab-id, #mode-id); the
 *   modes that run a task take the task's id, so that a reproduced job (ui/rerun.js) finds its mode
 * @property {string} label  the tab's title, and the title of its "Edit in" button
 * @property {(section: HTMLElement) => void} mount  builds the mode into its (hidden) section, once
 *   at start-up, before any model is known
 * @property {(src: string) => (void|Promise<void>)} [openImage]  takes a picture (a data URL or a
 *   URL): "Edit in" and the gallery. A mode without it takes none and gets no "Edit in" button
 * @property {import('../board/board.js').Board|null} [board]  its drawing board, set by mount: it
 *   is fitted when the mode is shown, and takes the undo, redo and brush-size keys
 * @property {() => void} [activate]  called each time the mode is shown (e.g. to load what it shows lazily)
 */

/** @type {Mode[]} */
const modes = [];

// mode: a Mode; returns it, so that a module can export what it registers.
export function registerMode(mode) {
  if (modes.some((m) => m.id === mode.id)) throw new Error(`two modes are called ${mode.id}`);
  modes.push(mode);
  return mode;
}

export const allModes = () => modes;

// The mode called id, or undefined.
export const modeById = (id) => modes.find((m) => m.id === id);

// The modes a picture can be opened in ("Edit in"), in tab order.
export const openTargets = () => modes.filter((m) => m.openImage);
