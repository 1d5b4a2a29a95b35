"""A person's upload sets: photos sent for a model of their own, `<data dir>/uploads/<id>/<class>/<file>`.

The class folder's name is `clean_class_name`'s (letters, digits, '_' and '-': `../../etc` stays a
name) and each file's name is its content's hash with the suffix of its format, so nothing a client
sends becomes a path, and a photo sent twice is kept once. Every photo is checked before it is
kept: a real image, decoded whole (not truncated), within the pixel limit read from its header
before decoding. A set is the folder `read_photo_folders` reads: the training takes it as it is.
"""
import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..synthesis.errors import FieldError
from ..synthesis.folders import UnreadablePhoto, clean_class_name, opened_photo

_SUFFIXES = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}


class UploadLimit(Exception):
    """An upload set would pass one of its limits (the API answers 413); the message names it."""


@dataclass(frozen=True)
class Photo:
    name: str       # as the client called it: for messages only, never a path
    data: bytes


class UploadSets:
    """The upload sets under `<data_dir>/uploads`, with their limits (per set: files and bytes; per
    photo: pixels)."""

    def __init__(self, data_dir: Path, *, max_files: int, max_bytes: int, max_pixels: int):
        self.root = Path(data_dir) / "uploads"
        self.max_files, self.max_bytes, self.max_pixels = max_files, max_bytes, max_pixels

    def create(self) -> str:
        upload_id = uuid.uuid4().hex
        (self.root / upload_id).mkdir(parents=True)
        return upload_id

    def folder(self, upload_id: str) -> Path:
        """The set's folder; LookupError when there is none (an id is never taken as a path)."""
        if not upload_id.isalnum() or not (self.root / upload_id).is_dir():
            raise LookupError(f"no upload {upload_id!r}")
        return self.root / upload_id

    def counts(self, upload_id: str) -> dict[str, int]:
        """Photos per class, by class name."""
        folder = self.folder(upload_id)
        return {d.name: sum(1 for f in d.iterdir() if f.is_file() and not f.name.startswith("."))
                for d in sorted(folder.iterdir()) if d.is_dir()}

    def size(self, upload_id: str) -> tuple[int, int]:
        """(files, bytes) in the set."""
        files = [f for f in self.folder(upload_id).rglob("*") if f.is_file()]
        return len(files), sum(f.stat().st_size for f in files)

    def add(self, upload_id: str, class_name: str, photos: list[Photo]) -> dict[str, int]:
        """Check every photo, then keep them all in the class's folder (all or none); the counts after.

        FieldError (422) names `class` or `photos` (the photo and why); UploadLimit (413) the set's limit.
        """
        folder = self.folder(upload_id)
        name = clean_class_name(class_name)
        if not name:
            raise FieldError("class", f"class {class_name!r} has no letter or digit to name a class by")
        if not photos:
            raise FieldError("photos", "photos is empty: send at least one photo")
        checked = [(self._check(photo), photo.data) for photo in photos]
        files, size = self.size(upload_id)
        if files + len(photos) > self.max_files:
            raise UploadLimit(f"the upload would hold {files + len(photos)} photos; max_upload_files is "
                              f"{self.max_files} per upload")
        if size + sum(len(p.data) for p in photos) > self.max_bytes:
            raise UploadLimit(f"the upload would hold {size + sum(len(p.data) for p in photos)} bytes; "
                              f"max_upload_bytes is {self.max_bytes} per upload")
        for suffix, data in checked:
            _write(folder / name / f"{hashlib.sha256(data).hexdigest()[:24]}.{suffix}", data)
        return self.counts(upload_id)

    def _check(self, photo: Photo) -> str:
        """The photo's file suffix, once it has decoded whole within the pixel limit; FieldError otherwise."""
        try:
            with opened_photo(photo.data, self.max_pixels) as im:
                im.load()   # truncated or corrupt data fails here, not in the training
                return _SUFFIXES.get(im.format, "img")
        except UnreadablePhoto as e:
            limit = f"; max_upload_pixels is {self.max_pixels}" if e.over_limit else ""
            raise FieldError("photos", f"photos: {photo.name}: {e}{limit}") from None

    def delete(self, upload_id: str) -> None:
        shutil.rmtree(self.folder(upload_id))


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a temporary name, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
