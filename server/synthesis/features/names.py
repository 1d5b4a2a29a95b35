"""`FeatureNames`: a readable name for every representation component, stored beside the weights.

Two files beside `<stem>.safetensors` (made by `robust-canvas features name MODEL DATA_DIR`):
`<stem>.features.json` (per feature: index, name, the classes it drives, colour and texture words,
where its crops came from) and `<stem>.features.webp`, a swatch sheet: per feature one row-major
run of `slots` square tiles, the synthetic swatch (what painting it adds, from a gray start) then
the real training-photo crops where it fires most. The loader attaches them to the model as
`model.feature_names`; names made for other weights (another fingerprint) are ignored.
"""
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..paths import cache_dir


FORMAT = "robust-canvas-features/1"
log = logging.getLogger(__name__)


@dataclass
class NamedFeature:
    index: int
    name: str                  # "church · grey vertical stripes"; unique within the model
    group: str | None          # the class it drives most (None: it drives no class up)
    rank: int | None           # 1 = the group's strongest feature
    classes: list[dict]        # [{"class", "weight" (last-layer), "drive" (weight x mean activation)}], strongest first
    colour: str
    texture: str
    crops: list[dict] = field(default_factory=list)   # [{"file": "<class>/<name>", "activation": a}]


@dataclass
class FeatureNames:
    model: str
    fingerprint: str           # of the classifier weights the names were made for
    features: list[NamedFeature]
    tile: int                  # side of each sheet tile, pixels
    slots: int                 # tiles per feature: the synthetic swatch, then the crops
    per_row: int               # features per sheet row
    source: dict = field(default_factory=dict)       # data dir, split, images, method
    sheet: Path | None = None  # the swatch sheet, when it exists

    def __post_init__(self):
        self._by_name = {normalize(f.name): f.index for f in self.features}

    def box(self, k: int, slot: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of feature k's tile `slot` (0: synthetic) in the sheet."""
        row, col = divmod(k, self.per_row)
        x, y = (col * self.slots + slot) * self.tile, row * self.tile
        return x, y, x + self.tile, y + self.tile

    def top(self, class_name: str) -> int | None:
        """The class's strongest feature (rank 1 of its group)."""
        return next((f.index for f in self.features if f.group == class_name and f.rank == 1), None)

    def find(self, name: str) -> int | None:
        return self._by_name.get(normalize(name))

    def to_json(self) -> dict:
        return {"format": FORMAT, "model": self.model, "fingerprint": self.fingerprint, "tile": self.tile,
                "slots": self.slots, "per_row": self.per_row, "source": self.source,
                "features": [asdict(f) for f in self.features]}

    def save(self, path: Path, sheet=None) -> None:
        """The JSON at `path` and, given a PIL image, the sheet beside it (atomic writes)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if sheet is not None:
            target = sheet_path(path)
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            sheet.save(tmp, format="WEBP", quality=75, method=6)
            tmp.replace(target)
            self.sheet = target
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False) + "\n")  # small: it ships
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "FeatureNames":
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} file")
        sheet = sheet_path(path)
        return cls(model=data["model"], fingerprint=data["fingerprint"],
                   features=[NamedFeature(**f) for f in data["features"]], tile=data["tile"], slots=data["slots"],
                   per_row=data["per_row"], source=data.get("source", {}), sheet=sheet if sheet.exists() else None)


def normalize(text: str) -> str:
    """Case, underscores, runs of spaces and the dot between class and look do not matter."""
    return " ".join(re.sub(r"[_·]", " ", str(text)).lower().split())


def fingerprint(model) -> str:
    """12 hex digits of the SHA-1 of the last layer's weights: names belong to these weights."""
    return weight_fingerprint(model.backbone.classifier().weight)


def weight_fingerprint(weight) -> str:
    """`fingerprint` from the last layer's weight tensor alone (read without the rest of the model)."""
    return hashlib.sha1(weight.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()[:12]


def names_path(weights: Path) -> Path:
    p = Path(weights)
    return p.with_name(p.name.split(".")[0] + ".features.json")


def sheet_path(json_path: Path) -> Path:
    p = Path(json_path)
    return p.with_name(p.name.removesuffix(".json") + ".webp")


def cached_names_path(model_id: str) -> Path:
    """Where names go when the weights' folder is not writable (a read-only install)."""
    return cache_dir() / "features" / f"{model_id}.features.json"


def find_feature_names(weights: Path, model) -> FeatureNames | None:
    """The names beside the weights (or in the cache) made for these weights, else None."""
    return find_names(weights, model.meta, lambda: fingerprint(model))


def find_names(weights: Path, meta, fingerprint_of) -> FeatureNames | None:
    """`find_feature_names` for the model with card `meta`, whose fingerprint `fingerprint_of()` gives
    (called only when a names file is found)."""
    for path in (names_path(weights), cached_names_path(meta.id)):
        if not path.exists():
            continue
        try:
            names = FeatureNames.load(path)
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("ignoring %s: %s", path, e)
            continue
        if names.fingerprint == fingerprint_of() and len(names.features) == meta.num_features:
            return names
        log.warning("ignoring %s: made for other weights (run `robust-canvas features name` again)", path)
    return None


def top_feature(model, class_index: int) -> int:
    """The class's strongest feature: from its names when it has them, else its largest last-layer weight."""
    names = getattr(model, "feature_names", None)
    k = names.top(model.meta.classes[class_index]) if names else None
    if k is None:
        if not hasattr(model, "backbone"):   # a card alone (a Ray front end) knows no weights
            raise LookupError(f"model {model.meta.id!r} has no feature names here: paint its features by index")
        k = int(model.backbone.classifier().weight[class_index].argmax())
    return k


def resolve_feature(model, value):
    """A feature name, a class name (its top feature) or an index (int or digit string) -> the index.

    Anything else is returned as it is, for the caller's validation. LookupError for an unknown name.
    """
    if not isinstance(value, str):
        return value
    if value.strip().isdigit():
        return int(value)
    names = getattr(model, "feature_names", None)
    k = names.find(value) if names else None
    if k is not None:
        return k
    classes = [normalize(c) for c in model.meta.classes]
    if normalize(value) in classes:
        return top_feature(model, classes.index(normalize(value)))
    hint = f"e.g. {names.features[0].name!r}, " if names else "this model has no feature names, "
    raise LookupError(f"unknown feature {value!r} for model {model.meta.id!r}: use a feature name ({hint}see "
                      f"/api/models/{model.meta.id}/features), a class name (its top feature) or an index "
                      f"from 0 to {model.meta.num_features - 1}")


def resolve_features(model, value):
    """resolve_feature over a list (one feature per stroke) or a single value."""
    if isinstance(value, (list, tuple)):
        return [resolve_feature(model, v) for v in value]
    return resolve_feature(model, value)


def matches(texts, query: str) -> bool:
    """Every word of `query` appears in the texts (index, name, words, linked classes of a feature)."""
    text = normalize(" ".join(str(t) for t in texts if t is not None))
    return all(word in text for word in normalize(query).split())


def searchable(f: NamedFeature) -> list:
    return [f.index, f.name, f.colour, f.texture, *(c["class"] for c in f.classes)]
