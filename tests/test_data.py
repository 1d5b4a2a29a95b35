"""Training augmentations: shapes and ranges kept, reproducible from the generator, really random."""
import pytest
import torch

from server.synthesis.data import augment


def _batch(n=6, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("kind", ["crop", "resized_crop"])
def test_augmentation_keeps_shape_and_range_and_follows_the_generator(kind):
    x = _batch()
    a = augment(x, torch.Generator().manual_seed(0), kind)
    b = augment(x, torch.Generator().manual_seed(0), kind)
    c = augment(x, torch.Generator().manual_seed(1), kind)
    assert a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)


def test_crop_shifts_by_at_most_an_eighth_of_the_side():
    """Every crop of a 32-px picture is the picture shifted by at most 4 px each way (and maybe mirrored
    left-right, never upside down): a ramp in x (channel 0) and one in y (channel 1) read the shift off."""
    n = 16
    x_ramp = torch.arange(32.0).view(1, 32).expand(32, 32)
    ramps = torch.stack([x_ramp, x_ramp.t(), torch.zeros(32, 32)]).expand(n, 3, 32, 32) / 31
    out = augment(ramps.clone(), torch.Generator().manual_seed(0), "crop") * 31
    centre = torch.arange(8, 24)   # at most 4 px from any edge of the crop: no reflected pixel here
    shifts, flips = set(), set()
    for i, crop in enumerate(out):
        row, column = crop[0, 16, centre], crop[1, centre, 16]
        flipped = bool(row[1] < row[0])
        x_expected = (31 - centre if flipped else centre).float()
        dx, dy = row - x_expected, column - centre.float()
        assert torch.allclose(dx, dx[0].expand_as(dx)), f"crop {i} is not a shifted (or mirrored) copy"
        assert torch.allclose(dy, dy[0].expand_as(dy)), f"crop {i} is not a shifted copy vertically"
        assert dx[0].abs() <= 4 and dy[0].abs() <= 4, f"crop {i} is shifted by ({dx[0]}, {dy[0]})"
        shifts.add((round(float(dx[0])), round(float(dy[0]))))
        flips.add(flipped)
    assert len(shifts) > 4 and flips == {True, False}   # really random: many shifts, both mirrorings


def test_resized_crop_zooms_in():
    """A crop of 35-100% of the area, resized back, enlarges what it keeps: a checkerboard's cells grow."""
    board = ((torch.arange(64).view(-1, 1) // 4 + torch.arange(64) // 4) % 2).float().expand(16, 3, 64, 64)
    out = augment(board.clone(), torch.Generator().manual_seed(0), "resized_crop")
    edges = lambda t: (t[:, 0, :, 1:] - t[:, 0, :, :-1]).abs().gt(0.5).float().sum((1, 2))
    assert (edges(out) <= edges(board) + 1).all() and (edges(out) < edges(board)).float().mean() > 0.8


def test_unknown_augmentation_is_a_clear_error():
    with pytest.raises(ValueError, match="resized_crop"):
        augment(_batch(), torch.Generator(), "rotate")


def test_the_decoded_folder_cache_is_never_seen_half_written(tmp_path, monkeypatch):
    """Data-parallel ranks decode the same folder at once: the cache appears whole or not at all."""
    import numpy as np
    from PIL import Image

    from server.synthesis import data
    for name in ("red", "blue"):
        (tmp_path / "images" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / name / "a.png")
    real_save = torch.save

    def crash_mid_write(obj, path):
        real_save(obj, path)
        with open(path, "r+b") as f:      # a truncated file, as a reader would see it mid-write
            f.truncate(10)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_mid_write)
    with pytest.raises(OSError):
        data.load_image_folder(tmp_path / "images", 8, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.pt"))      # nothing a second rank could half-read
    monkeypatch.setattr(torch, "save", real_save)
    first = data.load_image_folder(tmp_path / "images", 8, tmp_path / "cache")
    again = data.load_image_folder(tmp_path / "images", 8, tmp_path / "cache")   # from the cache
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1 and torch.equal(first.images, again.images)
