// A tiny event bus: views talk through named events instead of importing each other.
const handlers = new Map();

export function on(name, fn) {
  if (!handlers.has(name)) handlers.set(name, new Set());
  handlers.get(name).add(fn);
  return () => handlers.get(name).delete(fn);
}

export function emit(name, detail) {
  for (const fn of handlers.get(name) ?? []) fn(detail);
}
