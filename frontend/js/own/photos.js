// A person's photos in the browser: classes from dropped folders, each photo shrunk before it is
// sent (the browser's own decoder and JPEG encoder: uploads stay small), and batches that fit in
// one request body.

export const LONG_SIDE = 512;           // px: the photo model trains at 128, and crops come from these
const QUALITY = 0.9;
const BATCH_BYTES = 6 * 1024 * 1024;    // of data URLs per request: under the server's 8 MiB body limit
const BATCH_PHOTOS = 64;

const looksLikeImage = (file) => file.type.startsWith('image/') || /\.(jpe?g|png|webp|gif|bmp|avif|heic)$/i.test(file.name);

// A drop's classes: {name: [File]}. Each dropped folder is a class (its name the class's); one
// dropped folder that holds only folders is a folder of classes. Loose files are left out.
export async function classesFromDrop(dataTransfer) {
  const entries = [...dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  let folders = entries.filter((e) => e.isDirectory);
  if (folders.length === 1) {
    const inside = await readAll(folders[0]);
    if (inside.length && inside.every((e) => e.isDirectory)) folders = inside;
  }
  const classes = {};
  for (const folder of folders) classes[folder.name] = (await filesUnder(folder)).filter(looksLikeImage);
  return sorted(classes);
}

// Every entry of a directory: readEntries answers a batch at a time until it answers none.
async function readAll(dir) {
  const reader = dir.createReader();
  const all = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return all;
    all.push(...batch);
  }
}

async function filesUnder(entry) {
  if (entry.name.startsWith('.')) return [];   // .DS_Store, ._photo.jpg
  if (entry.isFile) return [await new Promise((resolve, reject) => entry.file(resolve, reject))];
  const nested = await Promise.all((await readAll(entry)).map(filesUnder));
  return nested.flat();
}

// A folder chosen with <input webkitdirectory>: its class folders' photos, {name: [File]}; a folder
// with photos directly in it is one class.
export function classesFromFolder(files) {
  const classes = {};
  for (const file of imageFiles(files)) {
    const parts = (file.webkitRelativePath || file.name).split('/');
    if (parts.some((p) => p.startsWith('.'))) continue;
    const name = parts.length >= 3 ? parts[1] : parts[0];
    (classes[name] ||= []).push(file);
  }
  return sorted(classes);
}

// By class name, as the server orders them.
const sorted = (classes) => Object.fromEntries(Object.entries(classes).sort(([a], [b]) => a.localeCompare(b)));

export const imageFiles = (files) => [...files].filter(looksLikeImage);

// The photo as a JPEG data URL, its longest side at most LONG_SIDE; null when the browser cannot
// decode it (the server would refuse it too).
export async function shrink(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return null;
  }
  const scale = Math.min(1, LONG_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';   // transparent pixels count as white, as everywhere on the server
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas.toDataURL('image/jpeg', QUALITY);
}

// Shrink and group a class's files into request-sized batches of [{name, data}], one batch at a
// time (a few hundred photos are never all in memory at once). onSkip(file): not an image.
export async function* batches(files, onSkip = () => {}) {
  let batch = [], bytes = 0;
  for (const file of files) {
    const data = await shrink(file);
    if (!data) { onSkip(file); continue; }
    if (batch.length && (bytes + data.length > BATCH_BYTES || batch.length >= BATCH_PHOTOS)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push({ name: file.name.slice(0, 255), data });
    bytes += data.length;
  }
  if (batch.length) yield batch;
}
