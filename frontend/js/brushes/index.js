// The brush registry: name -> brush. Every brush has strokeStart / stroke / strokeEnd.
import { pen } from './pen.js';
import { eraser } from './eraser.js';
import { fill } from './fill.js';

export const brushes = { pen, eraser, fill };
