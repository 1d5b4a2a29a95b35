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
    """A horizontal ramp stays a ramp, offset by at most 4 px at 32 px (up to a mirror flip)."""
    ramp = torch.arange(32.0).view(1, 1, 1, 32).expand(8, 3, 32, 32) / 31
    out = augment(ramp.clone(), torch.Generator().manual_seed(0), "crop")
    centre = out[:, 0, 16, 12:20] * 31
    steps = (centre[:, 1:] - centre[:, :-1]).abs()
    assert torch.allclose(steps, torch.ones_like(steps))
    assert ((centre[:, 0] - 12).abs() <= 4).any() or ((centre[:, 0] - 19).abs() <= 4).any()


def test_resized_crop_zooms_in():
    """A crop of 35-100% of the area, resized back, enlarges what it keeps: a checkerboard's cells grow."""
    board = ((torch.arange(64).view(-1, 1) // 4 + torch.arange(64) // 4) % 2).float().expand(16, 3, 64, 64)
    out = augment(board.clone(), torch.Generator().manual_seed(0), "resized_crop")
    edges = lambda t: (t[:, 0, :, 1:] - t[:, 0, :, :-1]).abs().gt(0.5).float().sum((1, 2))
    assert (edges(out) <= edges(board) + 1).all() and (edges(out) < edges(board)).float().mean() > 0.8


def test_unknown_augmentation_is_a_clear_error():
    with pytest.raises(ValueError, match="resized_crop"):
        augment(_batch(), torch.Generator(), "rotate")
