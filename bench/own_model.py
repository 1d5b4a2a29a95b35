"""Your own model, measured from outside: two folders of photos of classes the photo model never saw
become a served model with the one command (timed, card, seeds and names included); beside it the
same fine-tune run 3x as long, and the same classes trained from scratch for the same time. Then
translations of held-out photos, judged by an independent non-robust classifier that plays no part
in the synthesis, beside the untranslated photos, a non-robust fine-tune (--eps 0) and the shipped
photo model's nearest class at the same radius (the one the own model's card chose).

    python -m bench.own_model [--classes horse deer] [--per-class 300] [--heldout 100] [--out runs/bench-own]

The photos: CIFAR-10's (../shared/data/cifar10), 32-px photos the reader upsamples to the photo
model's 128 px. Training photos come from its train split, the judged ones from its test split.
The judge: the shipped non-robust CIFAR-10 model (`cifar10-standard`), its verdict restricted to
the two classes, on each result downsampled to 32 px.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from server.synthesis import tasks
from server.synthesis.data import decode_image
from server.synthesis.models.loading import DEFAULT_MODEL_ID, load_model

from .common import DATA_ROOT, save_grid

JUDGE = "cifar10-standard"


def copy_photos(classes: list[str], per_class: int, out: Path) -> Path:
    """The first `per_class` training photos of each class, as a person's folders (no split)."""
    for c in classes:
        (out / c).mkdir(parents=True, exist_ok=True)
        for f in sorted((DATA_ROOT / "cifar10" / "train" / c).iterdir())[:per_class]:
            shutil.copy(f, out / c / f.name)
    return out


def heldout_photos(classes: list[str], n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n` test photos of each class at `size` (as the folder reader decodes them), labels by `classes`."""
    images, labels = [], []
    for i, c in enumerate(classes):
        for f in sorted((DATA_ROOT / "cifar10" / "test" / c).iterdir())[:n]:
            images.append(torch.from_numpy(decode_image(f, size)))
            labels.append(i)
    return torch.stack(images).float() / 255, torch.tensor(labels)


def train(cli_args: list[str], data_dir: Path) -> float:
    """One `robust-canvas train ...` in a fresh process, as a person runs it; its wall time in seconds."""
    started = time.monotonic()
    env = {**os.environ, "ROBUST_CANVAS_DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "-m", "server.cli", "train", *cli_args], env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    print(proc.stdout.strip(), file=sys.stderr)
    return time.monotonic() - started


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch: int = 200) -> float:
    hits = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(x), batch))
    return hits / len(x)


class Judge:
    """The non-robust CIFAR-10 classifier's verdict between the two classes, at its own 32 px."""

    def __init__(self, classes: list[str]):
        self.model = load_model(JUDGE, device="cpu")
        self.columns = [self.model.meta.classes.index(c) for c in classes]

    @torch.no_grad()
    def target_rate(self, images: torch.Tensor, target: torch.Tensor) -> float:
        small = F.interpolate(images, size=(32, 32), mode="area")
        return float((self.model(small)[:, self.columns].argmax(1) == target).float().mean())


def translate(model, x: torch.Tensor, target: list, radius: dict | None = None) -> torch.Tensor:
    """`radius`: eps and step_size (None: the model's card's)."""
    outs = [tasks.run(model, "translate", image=x[i:i + 25], class_=target[i:i + 25], **(radius or {})).images
            for i in range(0, len(x), 25)]
    return torch.cat(outs)


def nearest_shipped_class(shipped, photos: Path, classes: list[str]) -> dict[str, str]:
    """Per class: the shipped model's class it most often sees in that class's training photos."""
    nearest = {}
    for c in classes:
        x = torch.stack([torch.from_numpy(decode_image(f, shipped.meta.input_size))
                         for f in sorted((photos / c).iterdir())]).float() / 255
        with torch.no_grad():
            votes = torch.bincount(shipped(x).argmax(1), minlength=shipped.meta.num_classes)
        nearest[c] = shipped.meta.classes[int(votes.argmax())]
    return nearest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--classes", nargs=2, default=["deer", "horse"])
    ap.add_argument("--per-class", dest="per_class", type=int, default=300)
    ap.add_argument("--heldout", type=int, default=100, help="test photos per class judged and translated")
    ap.add_argument("--base", default=DEFAULT_MODEL_ID)
    ap.add_argument("--out", type=Path, default=Path("runs/bench-own"))
    ap.add_argument("--gallery", type=Path, default=Path("docs/gallery/own/translate.png"))
    ap.add_argument("--translations-only", dest="translations_only", action="store_true",
                    help="skip the 3x and from-scratch runs: only what the translation table needs")
    args = ap.parse_args()
    classes = sorted(args.classes)
    shutil.rmtree(args.out, ignore_errors=True)
    photos, data_dir = copy_photos(classes, args.per_class, args.out / "my-photos"), args.out / "data"
    base = ["--init", args.base, "--data-dir", str(data_dir)]
    report = {"classes": classes, "photos_per_class": args.per_class, "threads": torch.get_num_threads()}

    report["own_s"] = train([str(photos), *base, "--model-id", "own"], data_dir)
    own = load_model("own", device="cpu", data_dir=data_dir)
    log = own.meta.training["log"]
    report["stages_s"] = own.meta.training["stages_s"]
    card = own.meta
    models = {"own": own}
    if not args.translations_only:
        report["own_3x_s"] = train([str(photos), *base, "--model-id", "own-3x", "--epochs", str(3 * len(log))], data_dir)
        # From scratch for the same time: the epochs of this network on these photos that fit in the one command's time.
        per_epoch = own.meta.training["train_time_s"] / len(log)
        scratch_epochs = max(1, int(report["own_s"] / per_epoch))
        report["scratch_s"] = train([str(photos), "--out-dir", str(args.out / "scratch"), "--model-id", "scratch",
                                     "--arch", card.arch, "--width", str(card.width), "--input-size", str(card.input_size),
                                     "--eps", str(card.eps), "--batch-size", "32", "--epochs", str(scratch_epochs)],
                                    data_dir)
        report["scratch_epochs"] = scratch_epochs
        models |= {"own_3x": load_model("own-3x", device="cpu", data_dir=data_dir),
                   "scratch": load_model(args.out / "scratch" / "scratch.safetensors", device="cpu")}
    report["eps0_s"] = train([str(photos), *base, "--model-id", "own-eps0", "--eps", "0"], data_dir)
    models["own_eps0"] = load_model("own-eps0", device="cpu", data_dir=data_dir)

    x, y = heldout_photos(classes, args.heldout, card.input_size)
    report["card_heldout_clean"] = {k: m.meta.accuracy["clean"] for k, m in models.items()}
    report["card_heldout_apgd"] = {k: m.meta.accuracy.get("attacks", {}).get("apgd_ce", {}).get("acc")
                                   for k, m in models.items()}
    report["test_clean"] = {k: accuracy(m, x, y) for k, m in models.items()}

    judge = Judge(classes)
    target = 1 - y
    shipped = load_model(args.base, device="cpu")
    nearest = nearest_shipped_class(shipped, photos, classes)
    # The own model's radius (its card chose it from the held-out photos) for all three models alike.
    radius = {k: tasks.task_defaults(own, "translate")[k] for k in ("eps", "step_size")}
    results = {"untranslated": x, "own (robust)": translate(own, x, target.tolist()),
               "own, --eps 0 (non-robust)": translate(models["own_eps0"], x, target.tolist(), radius),
               "shipped, nearest class": translate(shipped, x, [nearest[classes[int(t)]] for t in target], radius)}
    report["nearest_shipped_class"] = nearest
    report["translate_radius"] = {**radius, "chosen": own.meta.training.get("translate_radius")}
    report["judge_target_rate"] = {name: {f"{classes[1 - c]} -> {classes[c]}": judge.target_rate(out[target == c],
                                                                                                 target[target == c])
                                          for c in (0, 1)} for name, out in results.items()}
    report["judge_clean_acc"] = judge.target_rate(x, y)
    _gallery(results, target, classes, args.gallery)
    print(json.dumps(report, indent=1))


def _gallery(results: dict, target: torch.Tensor, classes: list[str], path: Path, per_direction: int = 6) -> None:
    """Random (seeded, not picked) held-out photos of each direction: one column per photo."""
    g = torch.Generator().manual_seed(0)
    picks = torch.cat([(target == c).nonzero().flatten()[torch.randperm(int((target == c).sum()), generator=g)
                                                          [:per_direction]] for c in (0, 1)])
    rows = [[out[i] for i in picks.tolist()] for out in results.values()]
    titles = [f"to {classes[int(target[i])]}" for i in picks.tolist()]
    save_grid(rows, path, scale=1, titles=titles, row_labels=list(results))


if __name__ == "__main__":
    main()
