"""A compact copy of Imagenette for the lent GPU machine, whose working tree is capped at 64 MiB.

    python -m bench.pack_for_device [--out .gpu/data] [--test 1000]

train/: every training image as a 128-px WebP (quality 80), bicubic-resized from the 224-px files as
`load_image_folder` resizes them (about 33 MB); test/: a fixed random subset of the original test
files (about 11 MB for 1,000), so that robustness measured there is on the real files. Name the
output folder in the device call's `carry` and exclude it from git (`.git/info/exclude`).
"""
import argparse
import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from .common import DATA_ROOT


def to_webp(job: tuple[Path, Path]) -> None:
    src, out = job
    out.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im.convert("RGB").resize((128, 128), Image.BICUBIC).save(out, "WEBP", quality=80)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=".gpu/data")
    ap.add_argument("--test", type=int, default=1000, help="test images kept as original files")
    args = ap.parse_args()
    src, out = DATA_ROOT / "imagenette", Path(args.out)
    jobs = [(p, out / "train" / p.parent.name / (p.stem + ".webp")) for p in sorted((src / "train").glob("*/*.JPEG"))]
    with ProcessPoolExecutor() as pool:
        list(pool.map(to_webp, jobs, chunksize=64))
    test = sorted((src / "test").glob("*/*.JPEG"))
    random.Random(0).shuffle(test)
    for p in test[:args.test]:
        (out / "test" / p.parent.name).mkdir(parents=True, exist_ok=True)
        (out / "test" / p.parent.name / p.name).write_bytes(p.read_bytes())
    print(f"{len(jobs)} training images as WebP, {min(args.test, len(test))} test files -> {out}")


if __name__ == "__main__":
    main()
