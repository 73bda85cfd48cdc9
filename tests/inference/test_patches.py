"""Overlapping patches (isegm.inference.predictors.patches): tiling covers every pixel, the blend has no seam,
clicks reach the patch in its coordinates, only clicked / boundary patches run, a small image goes straight
through bit for bit, undo, bad input, and --patch-size in scripts/evaluate_corrections.py."""
import numpy as np
import pytest
import torch

from inference_fakes import DiskNet, make_image, run_clicks
from isegm.inference.clicker import Click, Clicker
from isegm.inference.predictors import get_predictor
from isegm.inference.predictors.patches import PatchPredictor, patch_boxes, patch_starts, ramp_weights


def coord_image(shape):
    """(H, W, 3) uint8 with R = y, G = x (H, W <= 256): a patch crop knows its absolute coordinates."""
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    return np.stack([ys, xs, np.zeros_like(ys)], axis=-1).astype(np.uint8)


def smooth_of_coords(y, x):
    return (0.5 + 0.4 * np.sin(y / 17.0) * np.cos(x / 23.0)).astype(np.float32)


class CoordPredictor:
    """Predictor-like fake: returns ``fn(y, x)`` of the absolute coordinates read from a :func:`coord_image`
    crop (so every patch agrees with every other on every pixel) and records each call."""

    def __init__(self, fn=smooth_of_coords):
        self.fn = fn
        self.net = DiskNet(with_prev_mask=True)
        self.zoom_in, self.with_flip, self.device = None, False, torch.device("cpu")
        self.prev_prediction = None
        self.calls = []
        self.image = None

    def set_input_image(self, image):
        self.image = np.asarray(image)
        self.prev_prediction = torch.zeros(1, 1, *self.image.shape[:2])

    def get_prediction(self, clicker, prev_mask=None):
        ys, xs = self.image[..., 0].astype(np.float64), self.image[..., 1].astype(np.float64)
        self.calls.append({"origin": (int(ys[0, 0]), int(xs[0, 0])), "shape": self.image.shape[:2],
                           "clicks": [(c.coords, c.is_positive, c.index) for c in clicker.get_clicks()],
                           "prev": None if prev_mask is None else np.array(prev_mask)})
        out = self.fn(ys, xs)
        self.prev_prediction = torch.from_numpy(out)[None, None]
        return out

    def get_states(self):
        return {"prev": self.prev_prediction}

    def set_states(self, states):
        self.prev_prediction = states["prev"]


def clicker_with(shape, *clicks):
    clicker = Clicker(image_shape=shape)
    for y, x, positive in clicks:
        clicker.add_click(Click(y, x, positive))
    return clicker


def stripes(shape, period=3):
    """A previous mask with object and background in every patch (so every patch runs)."""
    return (np.arange(shape[1])[None, :].repeat(shape[0], 0) % period == 0).astype(np.float32)


@pytest.mark.parametrize("shape,patch,overlap", [((100, 130), (40, 50), 12), ((97, 61), (32, 32), 0),
                                                  ((64, 200), (64, 64), 63), ((30, 300), (40, 90), 20)])
def test_patches_cover_every_pixel_and_the_last_one_ends_at_the_border(shape, patch, overlap):
    boxes = patch_boxes(shape, patch, overlap)
    cover = np.zeros(shape, np.int32)
    for y0, x0, y1, x1 in boxes:
        cover[y0:y1, x0:x1] += 1
        assert (y1 - y0, x1 - x0) == (min(patch[0], shape[0]), min(patch[1], shape[1]))
        assert 0 <= y0 and y1 <= shape[0] and 0 <= x0 and x1 <= shape[1]
    assert cover.min() >= 1
    for axis, (length, size) in enumerate(zip(shape, patch)):
        starts = patch_starts(length, size, overlap)
        assert starts[0] == 0 and starts[-1] + min(size, length) == length
        assert np.all(np.diff(starts) > 0) and np.all(np.diff(starts) <= size - overlap)
        # every neighbouring pair shares at least `overlap` px
        assert np.all(starts[:-1] + size - starts[1:] >= overlap) if len(starts) > 1 else True


def test_two_overlapping_ramps_sum_to_one():
    starts = patch_starts(90, 50, 10)                       # [0, 40]: one 10 px overlap
    w0, w1 = ramp_weights(90, starts, 50)
    np.testing.assert_allclose(w0[40:] + w1[:10], 1.0)
    assert w0[:40].min() == 1.0 and w1[10:].min() == 1.0 and min(w0.min(), w1.min()) > 0


@pytest.mark.parametrize("fn", [lambda y, x: np.full(y.shape, 0.625, np.float32), smooth_of_coords])
def test_the_blend_reproduces_a_function_of_the_absolute_coordinate_exactly(fn):
    shape = (100, 130)
    base = CoordPredictor(fn)
    predictor = PatchPredictor(base, (40, 50), overlap=12)
    predictor.set_input_image(coord_image(shape))
    out = predictor.get_prediction(clicker_with(shape, (50, 60, True)), prev_mask=stripes(shape))
    assert len(predictor.boxes) == 4 * 4 and predictor.last_boxes == predictor.boxes     # starts 0, 28, 56, 60 / 80
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_array_equal(out, fn(ys.astype(np.float64), xs.astype(np.float64)))


def test_patches_that_disagree_change_gradually_over_the_overlap():
    # each patch answers a constant: its left column / 100; the blend must ramp between them, with no jump
    shape, overlap = (40, 130), 20
    base = CoordPredictor(lambda y, x: np.full(y.shape, x[0, 0] / 100.0, np.float32))
    predictor = PatchPredictor(base, (40, 50), overlap=overlap)
    predictor.set_input_image(coord_image(shape))
    out = predictor.get_prediction(clicker_with(shape, (5, 5, True)), prev_mask=stripes(shape))
    starts = patch_starts(shape[1], 50, overlap)             # [0, 30, 60, 80]
    levels = starts / 100.0
    steps = np.abs(np.diff(out[0].astype(np.float64)))
    # no step is more than two ramp steps of the largest jump between neighbours (a seam would be the whole jump)
    largest_jump = np.abs(np.diff(levels)).max()
    assert steps.max() <= 2 * largest_jump / (overlap + 1)
    assert out[0, 0] == pytest.approx(levels[0]) and out[0, -1] == pytest.approx(levels[-1])
    assert np.all(np.diff(out[0]) >= -1e-7)                  # increasing levels, monotone blend


def test_clicks_reach_only_their_patches_in_patch_coordinates():
    shape = (100, 130)
    base = CoordPredictor()
    predictor = PatchPredictor(base, (40, 50), overlap=10)   # y starts [0, 30, 60], x starts [0, 40, 80]
    predictor.set_input_image(coord_image(shape))
    clicker = clicker_with(shape, (5, 120, True), (95, 3, False))
    out = predictor.get_prediction(clicker)                  # previous mask: zeros, no boundary anywhere
    assert predictor.last_boxes == [(0, 80, 40, 130), (60, 0, 100, 50)]
    calls = {c["origin"]: c for c in base.calls}
    assert calls[(0, 80)]["clicks"] == [((5, 40), True, 0)]
    assert calls[(60, 0)]["clicks"] == [((35, 3), False, 1)]
    assert calls[(0, 80)]["shape"] == (40, 50)
    np.testing.assert_array_equal(calls[(0, 80)]["prev"], np.zeros((40, 50), np.float32))
    # the predicted patches give their values where no other patch reaches; the rest keeps the zero mask
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    expected = smooth_of_coords(ys.astype(np.float64), xs.astype(np.float64))
    np.testing.assert_array_equal(out[:30, 90:], expected[:30, 90:])
    np.testing.assert_array_equal(out[70:, :40], expected[70:, :40])
    np.testing.assert_array_equal(out[40:60, 50:80], 0.0)


def test_patches_without_clicks_keep_the_previous_mask_unless_it_has_a_boundary():
    shape = (100, 130)
    base = CoordPredictor(lambda y, x: np.full(y.shape, 0.25, np.float32))
    predictor = PatchPredictor(base, (40, 50), overlap=10)
    predictor.set_input_image(coord_image(shape))
    prev = np.zeros(shape, np.float32)
    prev[:, 95:] = 0.9                                      # an object edge inside the right column of patches only
    out = predictor.get_prediction(clicker_with(shape, (5, 5, True)), prev_mask=prev)
    assert sorted(predictor.last_boxes) == [(0, 0, 40, 50), (0, 80, 40, 130), (30, 80, 70, 130),
                                            (60, 80, 100, 130)]
    np.testing.assert_array_equal(out[40:, 50:80], prev[40:, 50:80])      # kept
    np.testing.assert_array_equal(out[:, 90:], 0.25)                      # re-predicted
    # the blended map is the next call's previous mask (undo restores it)
    state = predictor.get_states()
    np.testing.assert_array_equal(predictor.prev_prediction[0, 0].numpy(), out)
    predictor.get_prediction(clicker_with(shape, (50, 60, True)))
    assert base.calls[-1]["prev"] is not None
    predictor.set_states(state)
    np.testing.assert_array_equal(predictor.prev_prediction[0, 0].numpy(), out)


def test_an_image_no_larger_than_the_patch_goes_straight_through_bit_for_bit():
    image = make_image((40, 50), seed=3)
    clicks = [(20, 25, True), (5, 5, False), (30, 40, True)]

    def base():
        return get_predictor(DiskNet(with_prev_mask=True), "NoBRS", "cpu", zoom_in_params=None)

    plain = run_clicks(base(), image, clicks)
    wrapped = PatchPredictor(base(), (40, 64), overlap=8)
    got = run_clicks(wrapped, image, clicks)
    assert not wrapped.tiled and wrapped.boxes == []
    for a, b in zip(plain, got):
        np.testing.assert_array_equal(a, b)
    assert wrapped.prev_prediction is wrapped.predictor.prev_prediction


def test_a_real_predictor_on_a_large_image_answers_inside_the_clicked_patch():
    image = make_image((90, 120), seed=5)
    base = get_predictor(DiskNet(radius=5, with_prev_mask=True), "NoBRS", "cpu", zoom_in_params=None)
    predictor = PatchPredictor(base, (48, 48), overlap=16)
    predictor.set_input_image(image)
    out = predictor.get_prediction(clicker_with(image.shape[:2], (70, 100, True)))
    ys, xs = np.mgrid[:90, :120]
    disk = (ys - 70) ** 2 + (xs - 100) ** 2 <= 25
    np.testing.assert_array_equal(out > 0.49, disk)


@pytest.mark.parametrize("patch_size,overlap,message", [
    ((0, 10), 0, r"patch_size must be \(H, W\) integers >= 1, got \(0, 10\)"),
    ((10,), 0, r"patch_size must be \(H, W\) integers >= 1, got \(10,\)"),
    ("ab", 0, "patch_size must be"),
    ((32, 16), 16, r"patch overlap must be smaller than the patch size \(32, 16\), got 16"),
    ((32, 32), -1, "patch overlap must be an integer >= 0, got -1"),
    ((32, 32), 2.5, "patch overlap must be an integer >= 0, got 2.5"),
])
def test_bad_patch_size_or_overlap_is_refused(patch_size, overlap, message):
    with pytest.raises(ValueError, match=message):
        PatchPredictor(CoordPredictor(), patch_size, overlap)


def test_a_previous_mask_of_another_size_is_refused():
    predictor = PatchPredictor(CoordPredictor(), (40, 50), overlap=10)
    predictor.set_input_image(coord_image((100, 130)))
    with pytest.raises(ValueError, match=r"previous mask must be \(H, W\) = \(100, 130\)"):
        predictor.get_prediction(clicker_with((100, 130), (5, 5, True)), prev_mask=np.zeros((10, 10)))


def test_evaluate_corrections_script_refuses_bad_patch_flags(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    run = [sys.executable, str(repo / "scripts" / "evaluate_corrections.py"), "--cpu", "--out", str(tmp_path)]
    proc = subprocess.run(run + ["--patch-size", "64", "48", "--patch-overlap", "48"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "--patch-overlap 48 must be smaller than the patch size 64 x 48" in proc.stderr
    proc = subprocess.run(run + ["--patch-overlap", "8"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--patch-overlap 8 needs --patch-size H W" in proc.stderr
    proc = subprocess.run(run + ["--patch-size", "0", "48"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--patch-size" in proc.stderr
    assert not (tmp_path / "corrections.json").exists()
