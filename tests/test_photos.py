"""Issue 18: photographs at their own resolution -- the change carried back onto the photo, super-
resolution consistent with its input and never worse than bicubic, holes filled with texture."""
import pytest
import torch
import torch.nn.functional as F

from bench.photos import laplacian_energy, photos, seam_ratio, texture_ratio
from server.synthesis import tasks
from server.synthesis.errors import FieldError
from server.synthesis.tasks.registry import DISPLAY_MAX
from server.synthesis.consistency import Downsampled, consistent_upsample, grid_ratio
from server.synthesis.models.loading import load_model
from server.synthesis.texture import patch_fill, patchmatch_fill


def _photo(h=120, w=200, seed=0) -> torch.Tensor:
    """Smooth structure plus fine grain, like a photograph."""
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(1, 3, 6, 8, generator=g), size=(h, w), mode="bicubic", align_corners=False)
    return (base + 0.08 * torch.randn(1, 3, h, w, generator=g)).clamp(0, 1)


def _mask(h=120, w=200):
    m = torch.zeros(h, w)
    m[30:80, 60:130] = 1
    return m


@pytest.mark.parametrize("fill", ["patchmatch", "patch", "harmonic"])
def test_inpainting_at_the_photos_size_keeps_every_other_pixel_bit_for_bit(tiny_model, fill):
    x, m = _photo(), _mask()
    out = tasks.run(tiny_model, "inpaint", image=x, mask=m, class_=2, fill=fill, steps=3).images
    assert out.shape == x.shape
    known = (m == 0).expand_as(x)
    assert torch.equal(out[known], x[known])
    assert (out - x)[~known].abs().mean() > 0.01


def test_the_patch_fill_copies_texture_and_keeps_the_known_pixels():
    x, hole = _photo(), _mask()[None, None] > 0
    filled = patch_fill(x, hole)
    assert torch.equal(filled[~hole.expand_as(x)], x[~hole.expand_as(x)])
    assert texture_ratio(filled, x, hole) >= 0.3
    assert torch.equal(filled, patch_fill(x, hole))          # deterministic: reruns make the same pixels


@pytest.mark.parametrize("seed", [0, 1])
def test_the_patchmatch_fill_meets_its_border_without_a_tone_step(seed):
    """PyPatchMatch's fill (the photo card's): texture like the photo's, and colour jumps across the
    hole's edge like the photo's own between neighbours (our centre-pixel copies leave a step)."""
    x, hole = _photo(seed=seed), _mask()[None, None] > 0
    filled = patchmatch_fill(x, hole)
    assert torch.equal(filled[~hole.expand_as(x)], x[~hole.expand_as(x)])
    assert 0.5 <= texture_ratio(filled, x, hole) <= 2
    assert seam_ratio(filled, hole) < 1.15 * seam_ratio(x, hole) and seam_ratio(filled, hole) < seam_ratio(patch_fill(x, hole), hole)
    assert torch.equal(filled, patchmatch_fill(x, hole))     # deterministic: reruns make the same pixels
    everything = torch.ones_like(hole)
    assert torch.isfinite(patchmatch_fill(x, everything)).all()   # nothing known: the smooth fill, no crash


def test_a_translated_photo_keeps_its_fine_detail(tiny_model):
    x = _photo()
    out = tasks.run(tiny_model, "translate", image=x, class_=3, steps=3).images
    assert out.shape == x.shape
    assert (laplacian_energy(out) >= 0.5 * laplacian_energy(x)).all()


def test_paint_leaves_pixels_the_change_does_not_reach_exactly(tiny_model):
    x, m = _photo(), torch.zeros(120, 200)
    m[10:30, 10:30] = 1
    out = tasks.run(tiny_model, "paint", image=x, mask=m, feature=1, steps=2, penalty_weight=1e5).images
    assert out.shape == x.shape and torch.equal(out[..., 80:, 150:], x[..., 80:, 150:])


def test_consistency_projection_is_a_projection_without_blocks():
    g = torch.Generator().manual_seed(0)
    low = F.interpolate(torch.rand(2, 3, 8, 8, generator=g), size=(24, 24), mode="bicubic").clamp(0, 1)
    p = Downsampled(low, 4)
    x = p.project(torch.rand(2, 3, 96, 96, generator=g))
    assert (F.avg_pool2d(x, 4) - low).abs().max() < 1e-4
    assert torch.allclose(p.project(x), x, atol=1e-4)
    up = consistent_upsample(low, 4)
    assert (F.avg_pool2d(up, 4) - low).abs().max() < 1e-4 and grid_ratio(up, 4) < 1.3


@pytest.mark.parametrize("side", [8, 40])   # the model works at the result's size / refines at 2x, carried back
def test_superresolution_is_consistent_with_its_input(tiny_model, side):
    low = F.avg_pool2d(_photo(4 * side, 4 * side), 4)   # a photo taken at a quarter of the resolution
    out = tasks.run(tiny_model, "superresolve", image=low, factor=4, steps=3).images
    assert out.shape[-2:] == (4 * side, 4 * side)
    assert (F.avg_pool2d(out, 4) - low).abs().mean() < 2e-3
    assert grid_ratio(out, 4) < 1.3


def test_a_factor_past_the_display_limit_names_the_largest_allowed(tiny_model):
    limit = DISPLAY_MAX * tiny_model.meta.input_size
    side = limit // 3
    with pytest.raises(FieldError, match=f"the largest factor for this {side}x{side} image is 3"):
        tasks.build(tiny_model, "superresolve", image=torch.rand(3, side, side), factor=4)


@pytest.fixture(scope="module")
def photo_model():
    return load_model("imagenette-rn18w75-l2", device="cpu")


def test_superresolving_own_photos_is_no_worse_than_bicubic(photo_model):
    chosen = photos(256)
    for name in ("astronaut", "coffee"):
        x = chosen[name]
        low = F.avg_pool2d(x, 4)
        bicubic = F.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
        out = tasks.run(photo_model, "superresolve", image=low, factor=4).images
        psnr = lambda im: -10 * torch.log10(((im - x) ** 2).mean()).item()
        assert psnr(out) >= psnr(bicubic) - 0.5, name
        assert grid_ratio(out, 4) <= 1.3, name


def test_an_input_finer_than_the_models_scale_gets_the_consistent_bicubic_alone(tiny_model):
    size = tiny_model.meta.input_size
    low = F.avg_pool2d(_photo(4 * size, 4 * size), 2)            # 2*size a side: x2 is past SR_WORK * size
    out = tasks.run(tiny_model, "superresolve", image=low, factor=2)
    assert out.recipe.settings["steps"] == 0
    assert torch.allclose(out.images, consistent_upsample(low, 2), atol=1e-6)


def test_a_768_px_result_of_the_photo_model_opens_with_pillows_defaults(photo_model):
    import io

    from PIL import Image

    from server.synthesis import recipes
    x, m = _photo(768, 768), torch.zeros(768, 768)
    x = (x * 255).round() / 255
    m[300:420, 300:460] = 1
    out = tasks.run(photo_model, "inpaint", image=x, mask=m, steps=1)
    data = recipes.png_bytes(out.images[0], out.recipe)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.size == (768, 768)
    assert len(data) <= 2 * len(recipes.png_bytes(out.images[0]))
    assert torch.equal(tasks.rerun(photo_model, recipes.read_png_recipe(data)[0]).images, out.images)


def _guessed(model, x, m, **settings):
    """The model's own class on the start of inpainting x, and its probability."""
    x0 = tasks.build(model, "inpaint", image=x, mask=m, steps=0, **settings).problem.x0
    p = model(x0).softmax(1)
    return p.argmax(1).item(), p.max().item()


def test_an_unsure_automatic_class_leaves_the_fill_and_says_so(tiny_model):
    """A photo of none of the model's classes: below min_confidence the hole is the fill alone, the
    pixels outside are the photo's, the output says why and the recipe reruns to the same picture."""
    x, m = _photo(), _mask()
    _, p = _guessed(tiny_model, x, m, fill="patch")
    out = tasks.run(tiny_model, "inpaint", image=x, mask=m, steps=3, fill="patch", min_confidence=min(1.0, p + 0.01))
    filled = patch_fill(x, m[None, None] > 0)
    assert torch.equal(out.images, filled)             # the hole: the fill alone; outside: the photo's pixels
    assert out.notes[0].startswith("class: none (the model is unsure") and "fill only" in out.notes[0]
    assert out.recipe.settings["min_confidence"] == min(1.0, p + 0.01) and out.recipe.inputs["class"] is None
    assert torch.equal(tasks.rerun(tiny_model, out.recipe).images, out.images)


def test_guess_off_keeps_the_fill_without_a_named_class_and_says_so_honestly(tiny_model):
    """Issue 26: "fill only, push only toward a class a person names" is a setting, not a threshold
    no guess reaches; the note says what was decided, not that the model was unsure."""
    x, m = _photo(), _mask()
    _, p = _guessed(tiny_model, x, m, fill="patch")
    out = tasks.run(tiny_model, "inpaint", image=x, mask=m, steps=3, fill="patch", guess="off", min_confidence=0.0)
    assert torch.equal(out.images, patch_fill(x, m[None, None] > 0))   # p >= 0, yet the hole keeps the fill
    assert "guess is off" in out.notes[0] and "unsure" not in out.notes[0]
    assert out.recipe.settings["guess"] == "off"
    assert torch.equal(tasks.rerun(tiny_model, out.recipe).images, out.images)
    named = tasks.run(tiny_model, "inpaint", image=x, mask=m, steps=3, fill="patch", guess="off", class_=2)
    assert (named.images - out.images).abs().max() > 0.01 and named.notes in (None, [""])
    on = tasks.run(tiny_model, "inpaint", image=x, mask=m, steps=3, fill="patch", guess="on", min_confidence=0.0)
    assert (on.images - out.images).abs().max() > 0.01   # the same run with guess on pushes it


def test_a_recipe_without_guess_reruns_as_before_it(tiny_model, monkeypatch):
    """Recipes made before the setting pushed toward a sure guess: they rerun with guess on (legacy)."""
    x, m = _photo(), _mask()
    out = tasks.run(tiny_model, "inpaint", image=x, mask=m, steps=3, fill="patch", min_confidence=0.0)
    del out.recipe.settings["guess"]
    monkeypatch.setitem(tasks.TASKS["inpaint"].reference, "guess", "off")   # today's default differs
    assert torch.equal(tasks.rerun(tiny_model, out.recipe).images, out.images)
    assert not torch.equal(tasks.run(tiny_model, "inpaint", image=x, mask=m, steps=3, fill="patch").images, out.images)


def test_a_sure_or_given_class_still_paints_the_hole(tiny_model):
    x, m = _photo(), _mask()
    known = (m == 0).expand_as(x)
    _, p = _guessed(tiny_model, x, m, fill="patch")
    for given in ({"min_confidence": max(0.0, p - 0.01)}, {"min_confidence": 1.0, "class_": 2}):
        out = tasks.run(tiny_model, "inpaint", image=x, mask=m, steps=3, fill="patch", **given)
        assert torch.equal(out.images[known], x[known]) and out.notes in (None, [""])
        assert (out.images - patch_fill(x, m[None, None] > 0)).abs().max() > 0.01


def test_a_batch_keeps_the_fill_only_where_the_model_is_unsure(tiny_model):
    """One run, one optimizer: the unsure image stays at its fill, the sure one is painted."""
    x = torch.cat([_photo(seed=0), _photo(seed=1)])
    m = _mask()
    x0 = tasks.build(tiny_model, "inpaint", image=x, mask=m, steps=0, fill="patch").problem.x0
    p = tiny_model(x0).softmax(1).max(1).values
    lo, hi = p.min().item(), p.max().item()
    assert hi - lo > 1e-4      # the two photos' starts differ in the model's eyes
    out = tasks.run(tiny_model, "inpaint", image=x, mask=m, steps=3, fill="patch", min_confidence=(lo + hi) / 2)
    filled = patch_fill(x, m[None, None] > 0)
    unsure = int(p.argmin())
    assert torch.equal(out.images[unsure], filled[unsure]) and "unsure" in out.notes[unsure]
    assert (out.images[1 - unsure] - filled[1 - unsure]).abs().max() > 0.01 and out.notes[1 - unsure] == ""


@pytest.mark.parametrize("value", [-0.1, 1.5, "high"])
def test_a_bad_min_confidence_names_the_field(tiny_model, value):
    with pytest.raises(FieldError) as e:
        tasks.build(tiny_model, "inpaint", image=_photo(), mask=_mask(), min_confidence=value)
    assert e.value.field == "min_confidence"
