// The canvas's modes, in tab order: importing one registers it (registry.js), so this is the one
// place that lists them. A new mode or page is a module that calls registerMode with a Mode
// (the contract is written in registry.js), imported here where its tab should be.
import './sketch.js';
import './paint.js';
import './inpaint.js';
import './superresolve.js';
import './translate.js';
import './generate.js';
import '../own/page.js';

export { allModes, modeById, openTargets } from './registry.js';
