// Undo/redo for the boards, bounded in bytes rather than in steps: every board's history draws on
// one shared budget of ImageData, so a 224-px model keeps fewer steps than a 32-px one and the
// history never holds more than budget.bytes however large the model is. Over budget, the
// oldest step of any board goes first.
export const HISTORY_BYTES = 64 * 1024 * 1024;
export const budget = { bytes: HISTORY_BYTES };  // shared by all boards (tests may lower it)

const histories = new Set();
let clock = 0;  // orders the steps of all boards, oldest first

// entry: {image: ImageData, mask: ImageData}
const sizeOf = (entry) => entry.image.data.byteLength + entry.mask.data.byteLength;

// Bytes held by every board's undo and redo steps together.
export function historyBytes() {
  let total = 0;
  for (const h of histories) total += h.bytes;
  return total;
}

export class History {
  constructor() {
    this.clear();
    histories.add(this);
  }

  clear() {
    this.undoStack = [];
    this.redoStack = [];
    this.bytes = 0;
  }

  canUndo() { return this.undoStack.length > 0; }
  canRedo() { return this.redoStack.length > 0; }

  // A new edit: `before` is the state it starts from; the redo branch is forgotten.
  push(before) {
    this.redoStack.forEach((e) => { this.bytes -= sizeOf(e); });
    this.redoStack = [];
    this.add(this.undoStack, before);
    trim();
  }

  // Step back (or forward) from `current`: returns the state to restore, or null.
  undo(current) { return this.move(this.undoStack, this.redoStack, current); }
  redo(current) { return this.move(this.redoStack, this.undoStack, current); }

  move(from, to, current) {
    if (!from.length) return null;
    const entry = from.pop();
    this.bytes -= sizeOf(entry);
    this.add(to, current);
    trim();
    return entry;
  }

  add(stack, entry) {
    stack.push(Object.assign(entry, { time: ++clock }));
    this.bytes += sizeOf(entry);
  }

  // Forget the oldest step of one stack ('undoStack' or 'redoStack').
  dropOldest(stack) {
    const entry = this[stack].shift();
    if (entry) this.bytes -= sizeOf(entry);
  }
}

// Drop the oldest steps, across all boards, until the history fits the budget.
export function trim() {
  while (historyBytes() > budget.bytes) {
    const oldest = oldestOf('undoStack') || oldestOf('redoStack');  // undo steps go before redo steps
    if (!oldest) return;
    oldest.history.dropOldest(oldest.stack);
  }
}

function oldestOf(stack) {
  let best = null;
  for (const history of histories) {
    const first = history[stack][0];
    if (first && (!best || first.time < best.time)) best = { history, stack, time: first.time };
  }
  return best;
}
