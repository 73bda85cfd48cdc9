"""Click encodings (disks / distance maps), click groups, input normalisation."""
import math

import numpy as np
import pytest
import torch

from isegm.model.ops import BatchImageNormalize, DistMaps, ScaleLayer, resolve_norm_layer, split_points_by_order

PAD = [-1.0, -1.0, -1.0]


def _points(rows):
    return torch.tensor([rows], dtype=torch.float32)


def _brute_force_disks(clicks, h, w, radius):
    """Reference: union of disks, one float per pixel, plain numpy loops."""
    out = np.zeros((h, w), np.float32)
    for y, x in clicks:
        rr, cc = np.mgrid[:h, :w]
        out[(rr - y) ** 2 + (cc - x) ** 2 <= radius ** 2] = 1
    return out


def test_disks_known_pixels_and_padding_ignored():
    maps = DistMaps(norm_radius=3, use_disks=True)
    # N = 2: one positive click + padding, one negative click + padding.
    points = _points([[10, 20, 0], PAD, [25, 5, 1], PAD])
    out = maps(torch.zeros(1, 3, 32, 40), points)
    assert out.shape == (1, 2, 32, 40) and out.dtype == torch.float32
    pos, neg = out[0, 0], out[0, 1]
    assert pos[10, 20] == 1 and pos[13, 20] == 1 and pos[10, 17] == 1
    assert pos[14, 20] == 0 and pos[10, 24] == 0
    assert pos[12, 22] == 1          # 2^2 + 2^2 = 8 <= 9
    assert pos[12, 23] == 0          # 2^2 + 3^2 = 13 > 9
    assert int(pos.sum()) == 29      # lattice points in a radius-3 disk
    assert neg[25, 5] == 1 and neg[10, 20] == 0
    # padding rows (-1, -1) add nothing: no pixel near the top-left corner is set
    assert out[0, :, :3, :3].sum() == 0
    np.testing.assert_array_equal(pos.numpy(), _brute_force_disks([(10, 20)], 32, 40, 3))
    np.testing.assert_array_equal(neg.numpy(), _brute_force_disks([(25, 5)], 32, 40, 3))


def test_disks_union_of_several_clicks_and_batch():
    maps = DistMaps(norm_radius=5, use_disks=True)
    points = torch.tensor([
        [[4, 4, 0], [30, 30, 2], [10, 30, 1], PAD],
        [[20, 10, 0], PAD, PAD, PAD],
    ], dtype=torch.float32)
    out = maps(torch.zeros(2, 3, 40, 48), points)
    np.testing.assert_array_equal(out[0, 0].numpy(), _brute_force_disks([(4, 4), (30, 30)], 40, 48, 5))
    np.testing.assert_array_equal(out[0, 1].numpy(), _brute_force_disks([(10, 30)], 40, 48, 5))
    np.testing.assert_array_equal(out[1, 0].numpy(), _brute_force_disks([(20, 10)], 40, 48, 5))
    assert out[1, 1].sum() == 0      # only padding among the negatives


def test_click_with_one_negative_coordinate_is_not_padding():
    # RITM's rule: a click is padding only when max(y, x) < 0.
    out = DistMaps(norm_radius=3, use_disks=True)(torch.zeros(1, 3, 16, 16), _points([[-1, 5, 0], PAD]))
    np.testing.assert_array_equal(out[0, 0].numpy(), _brute_force_disks([(-1, 5)], 16, 16, 3))
    assert out[0, 0, 0, 5] == 1


def test_distance_maps_values():
    radius = 10.0
    maps = DistMaps(norm_radius=radius, use_disks=False)
    out = maps(torch.zeros(1, 3, 30, 30), _points([[10, 10, 0], PAD]))
    pos, neg = out[0, 0], out[0, 1]
    assert pos[10, 10] == 0
    assert pos[10, 13].item() == pytest.approx(math.tanh(2 * 3 / radius), abs=1e-6)
    assert pos[14, 13].item() == pytest.approx(math.tanh(2 * 5 / radius), abs=1e-6)
    assert torch.all(neg == 1)       # no negative click: tanh(2 * sqrt(1e6)) == 1


def test_cpu_mode_rounds_coordinates():
    exact = DistMaps(norm_radius=2, use_disks=True)(torch.zeros(1, 3, 20, 20), _points([[10, 11, 0], PAD]))
    rounded = DistMaps(norm_radius=2, use_disks=True, cpu_mode=True)(
        torch.zeros(1, 3, 20, 20), _points([[10.2, 10.7, 0], PAD]))
    assert torch.equal(exact, rounded)


def test_bad_points_shape_raises():
    with pytest.raises(ValueError, match="2N, 3"):
        DistMaps(norm_radius=5, use_disks=True)(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 3))


def test_split_points_by_order_groups_clicks():
    # N = 3. Positive: order 0, 3, 1; negative: order 2, 0 (negative first click), padding.
    points = _points([[1, 1, 0], [2, 2, 3], [3, 3, 1], [4, 4, 2], [5, 5, 0], PAD])
    first, second, rest = split_points_by_order(points, groups=(2, 1, -1))
    assert first.shape == (1, 4, 3) and second.shape == (1, 2, 3) and rest.shape == (1, 6, 3)
    assert first[0].tolist() == [[1, 1, 0], PAD, PAD, PAD]
    assert second[0].tolist() == [[3, 3, 1], PAD]
    # rest: positives (order 3) in slots 0..2, negatives (order 2, negative first click) in 3..5
    assert rest[0].tolist() == [[2, 2, 3], PAD, PAD, [4, 4, 2], [5, 5, 0], PAD]


def test_split_points_by_order_rejects_repeated_orders():
    with pytest.raises(ValueError, match="unique"):
        split_points_by_order(_points([[1, 1, 1], [2, 2, 1], PAD, PAD]), groups=(2, 1, -1))


def test_batch_image_normalize_and_not_in_state_dict():
    norm = BatchImageNormalize([0.5, 0.25, 0.0], [0.5, 0.5, 2.0])
    image = torch.ones(2, 3, 4, 5)
    out = norm(image)
    assert torch.allclose(out[:, 0], torch.full((2, 4, 5), 1.0))
    assert torch.allclose(out[:, 1], torch.full((2, 4, 5), 1.5))
    assert torch.allclose(out[:, 2], torch.full((2, 4, 5), 0.5))
    assert torch.equal(image, torch.ones(2, 3, 4, 5))   # input untouched
    assert norm.state_dict() == {}


def test_scale_layer_uses_absolute_scale():
    layer = ScaleLayer(init_value=0.05)
    with torch.no_grad():
        layer.scale.fill_(-0.5)
    assert torch.allclose(layer(torch.full((1, 2), 2.0)), torch.full((1, 2), 1.0))
    assert list(layer.state_dict()) == ["scale"]


def test_resolve_norm_layer_whitelist():
    assert resolve_norm_layer(torch.nn.BatchNorm2d)[1] == "torch.nn.modules.batchnorm.BatchNorm2d"
    assert resolve_norm_layer("torch.nn.modules.batchnorm.BatchNorm2d")[0] is torch.nn.BatchNorm2d
    with pytest.raises(ValueError, match="unsupported norm_layer"):
        resolve_norm_layer("os.system")


@pytest.mark.parametrize("use_disks", [True, False])
def test_chunked_minimum_equals_single_pass(monkeypatch, use_disks):
    import isegm.model.ops as ops
    gen = torch.Generator().manual_seed(0)
    points = torch.cat([torch.rand(2, 10, 2, generator=gen) * 30, torch.zeros(2, 10, 1)], dim=2)
    points[0, 3] = points[1, 8] = torch.tensor(PAD)
    maps = DistMaps(norm_radius=4, use_disks=use_disks)
    single = maps(torch.zeros(2, 3, 30, 32), points)
    monkeypatch.setattr(ops, "_CHUNK_ELEMENTS", 2 * 2 * 30 * 32 * 2)   # two clicks per chunk
    assert torch.equal(maps(torch.zeros(2, 3, 30, 32), points), single)
