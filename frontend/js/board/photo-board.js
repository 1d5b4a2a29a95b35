// A photo board (inpaint, paint): it holds a loaded photo whole, at its aspect ratio. Its layers
// have the model's input size on their long side (what is brushed is a mask at the model's
// resolution; nothing draws on its picture), the stage shows the photo at its own resolution, and
// it sends the photo itself (shrunk only past the server's limit, photo.js) with the mask scaled
// up to it. Before a photo is loaded it is a square board.
import { RESULT_MAX, fitHint, fitSize, photoDataURL } from '../photo.js';
import { maskAt, naturalSize, shrink } from '../resample.js';
import { Board } from './board.js';

// The layers' size for a photo: its aspect ratio, the long side n.
function photoLayers(img, n) {
  const { width: w, height: h } = naturalSize(img), k = n / Math.max(w, h);
  return { width: Math.max(1, Math.round(w * k)), height: Math.max(1, Math.round(h * k)) };
}

export class PhotoBoard extends Board {
  photo = null;  // {img, src}: the loaded photo, at its own size; part of the undo history

  get hasPicture() { return this.photo !== null; }

  // ---- the hooks of Board ------------------------------------------------------------------------
  layerSize(n) { return this.photo ? photoLayers(this.photo.img, n) : super.layerSize(n); }

  redraw(old, width, height) {
    if (this.photo) this.ictx.drawImage(shrink(this.photo.img, width, height), 0, 0);
    else super.redraw(old, width, height);
  }

  shown() { return this.photo?.img ?? this.image; }

  place(img, src) {
    this.photo = { img, src };
    const { width, height } = photoLayers(img, this.inputSize);
    if (width !== this.width || height !== this.height) this.makeLayers(width, height);
    this.ictx.drawImage(shrink(img, width, height), 0, 0);
  }

  // An undo can go back to another photo, or to none.
  state() { return { ...super.state(), photo: this.photo }; }

  restore(s) {
    this.photo = s.photo;
    super.restore(s);
  }

  // ---- what a mode sends: the photo at its own resolution, the mask scaled up to it ---------------
  maxSide() { return RESULT_MAX * this.inputSize; }

  imageDataURL() {
    return this.photo ? photoDataURL(this.photo.img, this.photo.src, this.maxSide()) : super.imageDataURL();
  }

  // Nearest-neighbour, so that the brushed region keeps hard pixel edges.
  maskDataURL() {
    if (!this.photo) return super.maskDataURL();
    const { width, height } = naturalSize(this.photo.img), fit = fitSize(width, height, this.maxSide());
    return maskAt(this.mask, fit.width, fit.height);
  }

  // Says when the photo is shrunk to fit the server ('' when it goes at its own size).
  fitHint() {
    return this.photo ? fitHint(this.photo.img, this.maxSide(),
      `this server's results for this model are at most ${this.maxSide()} px a side`) : '';
  }
}
