"""A tiny registry of published robust checkpoints, and where downloaded ones live.

`pull(name)` downloads one into `cache_dir()/checkpoints/<name>.pt`; `load_model(name)` then finds it
(via `find_pulled`) and reads it with checkpoints.load_checkpoint, which adds the entry's `card()`.
"""
import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..paths import cache_dir

URL_BASE_ENV = "ROBUST_CANVAS_REGISTRY_URL_BASE"  # mirror: <base>/<filename> replaces each entry's url
CHUNK = 1 << 20


def checkpoints_dir() -> Path:
    return cache_dir() / "checkpoints"


@dataclass(frozen=True)
class Published:
    """A public checkpoint: where it is, and the model-card fields its file cannot tell."""
    name: str
    url: str
    filename: str              # the published file name (what a mirror at URL_BASE_ENV serves)
    dataset: str
    arch: str
    norm: str | None           # threat model it was trained against
    eps: float                 # in [0,1] pixel units
    accuracy: dict = field(default_factory=dict)   # ModelMeta.accuracy: clean, robust{norm,eps,steps,acc}
    sha256: str | None = None  # None: not published, the download is not verified
    size: int | None = None    # bytes; None: not known
    hints: dict = field(default_factory=dict)      # extra load_checkpoint overrides
    reference: str = ""

    def card(self) -> dict:
        """Overrides for load_checkpoint: what the registry knows beyond the file."""
        return {"norm": self.norm, "eps": self.eps, "accuracy": self.accuracy,
                "source": f"{self.reference} ({self.url})".strip(), **self.hints}


REGISTRY: dict[str, Published] = {}


def register(entry: Published) -> Published:
    REGISTRY[entry.name] = entry
    return entry


def list_models() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> Published:
    if name not in REGISTRY:
        raise ValueError(f"unknown registry model {name!r} (known: {', '.join(list_models())})")
    return REGISTRY[name]


def find_pulled(name: str) -> Path | None:
    """The downloaded file of registry model `name`, or None (also for names not in the registry)."""
    if name not in REGISTRY:
        return None
    path = checkpoints_dir() / f"{name}.pt"
    return path if path.is_file() else None


def card_overrides(path: Path) -> dict:
    """The registry's card for a pulled file (matched by place and name), else {}."""
    path = Path(path)
    pulled = find_pulled(path.stem)
    return get(path.stem).card() if pulled is not None and pulled.resolve() == path.resolve() else {}


def pull(name: str, *, progress: bool = True, url: str | None = None) -> Path:
    """Download registry model `name` (once) and return its path; checks sha256 and size when known."""
    entry = get(name)
    done = find_pulled(name)
    if done is not None:
        return done
    url = url or _source_url(entry)
    dest = checkpoints_dir() / f"{name}.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        digest, size = _download(url, part, progress)
        _verify(entry, url, digest, size)
    except BaseException:
        part.unlink(missing_ok=True)  # never leave a partial or unverified file behind
        raise
    part.replace(dest)
    return dest


def _source_url(entry: Published) -> str:
    base = os.environ.get(URL_BASE_ENV)
    return f"{base.rstrip('/')}/{entry.filename}" if base else entry.url


def _download(url: str, part: Path, progress: bool) -> tuple[str, int]:
    """Stream `url` into `part`; (sha256 hex digest, bytes)."""
    sha, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=part.stem, disable=not progress) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    sha.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise ConnectionError(f"could not download {url}: {getattr(e, 'reason', e)}") from None
    return sha.hexdigest(), size


def _verify(entry: Published, url: str, digest: str, size: int) -> None:
    if entry.size is not None and size != entry.size:
        raise ValueError(f"{entry.name}: {url} sent {size} bytes, expected {entry.size}; nothing was kept")
    if entry.sha256 is not None and digest != entry.sha256.lower():
        raise ValueError(f"{entry.name}: sha256 mismatch for {url}: got {digest}, expected {entry.sha256}; "
                         "nothing was kept")


# The robustness library's models (MadryLab/robustness README, "Pretrained models"; saved with torch 1.1).
# All are ResNet-50s. Accuracies: its table's clean and 100-step PGD at the training eps.
# sha256 and size: not published there, so downloads are not verified (None).
_ROBUSTNESS = "Engstrom et al., robustness library (2019)"


def _robustness(name, dropbox_id, filename, dataset, norm, eps, clean, robust):
    url = f"https://www.dropbox.com/s/{dropbox_id}/{filename}?dl=1"
    accuracy = {"clean": clean, "robust": {"norm": norm, "eps": eps, "steps": 100, "acc": robust}}
    register(Published(name, url, filename, dataset, "resnet50", norm, eps, accuracy, reference=_ROBUSTNESS))


_robustness("cifar10-rn50-l2-0.25", "2qsp7pt6t7uo71w", "cifar_l2_0_25.pt", "cifar10", "l2", 0.25, 0.9277, 0.8119)
_robustness("cifar10-rn50-l2-0.5", "1zazwjfzee7c8i4", "cifar_l2_0_5.pt", "cifar10", "l2", 0.5, 0.9083, 0.7011)
_robustness("cifar10-rn50-l2-1.0", "s2x7thisiqxz095", "cifar_l2_1_0.pt", "cifar10", "l2", 1.0, 0.8162, 0.5261)
_robustness("cifar10-rn50-linf-8", "c9qlt1lbdnu9tlo", "cifar_linf_8.pt", "cifar10", "linf", 8 / 255, 0.8703, 0.5329)
_robustness("imagenet-rn50-l2-3.0", "knf4uimlqsi1yz8", "imagenet_l2_3_0.pt", "imagenet", "l2", 3.0, 0.5790, 0.3509)
_robustness("imagenet-rn50-linf-4", "axfuary2w1cnyrg", "imagenet_linf_4.pt", "imagenet", "linf", 4 / 255,
            0.6242, 0.3338)
_robustness("imagenet-rn50-linf-8", "yxn15a9zklz3s8q", "imagenet_linf_8.pt", "imagenet", "linf", 8 / 255,
            0.4791, 0.1952)

# Santurkar et al. 2019 (MadryLab/robustness_applications README): the paper's Restricted ImageNet model.
# Threat model per the paper's training setup (L2, eps 3.5); no accuracy, sha256 or size published with it.
register(Published("restricted-imagenet-rn50-l2-3.5", "http://andrewilyas.com/RestrictedImageNet.pt",
                   "RestrictedImageNet.pt", "restricted_imagenet", "resnet50", "l2", 3.5,
                   reference="Santurkar et al., Image Synthesis with a Single (Robust) Classifier (2019)"))
