import pytest
import torch

from isegm.inference.clicker import Click
from isegm.inference.transforms import (AddHorizontalFlip, LimitLongestSide, SigmoidForPred, ZoomIn,
                                        check_object_roi, clamp_bbox, expand_bbox, get_bbox_iou,
                                        get_object_roi, get_roi_image_nd)


def test_flip_transform_and_inverse():
    image = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 2, 3, 4)
    flip = AddHorizontalFlip()
    out, clicks = flip.transform(image, [[Click(True, (1, 0), 0), Click(False, (2, 3), 1)]])
    assert out.shape == (2, 2, 3, 4)
    assert torch.equal(out[1], torch.flip(image[0], dims=[2]))
    assert [c.coords for c in clicks[1]] == [(1, 3), (2, 0)]
    assert [c.coords for c in clicks[0]] == [(1, 0), (2, 3)]
    # a flip-equivariant output comes back unchanged; otherwise the mirrored halves are averaged
    logits = torch.randn(1, 1, 3, 4)
    assert torch.allclose(flip.inv_transform(torch.cat([logits, torch.flip(logits, dims=[3])])), logits)
    other = torch.randn(1, 1, 3, 4)
    expected = 0.5 * (logits + torch.flip(other, dims=[3]))
    assert torch.allclose(flip.inv_transform(torch.cat([logits, other])), expected)


def test_sigmoid_for_pred():
    x = torch.tensor([[[[0.0, 2.0]]]])
    assert torch.allclose(SigmoidForPred().inv_transform(x), torch.sigmoid(x))


def test_limit_longest_side_geometry_and_inverse():
    image = torch.rand(1, 3, 100, 50)
    limit = LimitLongestSide(max_size=40)
    out, clicks = limit.transform(image, [[Click(True, (50, 25), 0)]])
    assert out.shape == (1, 3, 40, 20) and limit.image_changed
    assert clicks[0][0].coords == pytest.approx((40 * 50 / 100, 20 * 25 / 50))
    back = limit.inv_transform(torch.ones(1, 1, 40, 20))
    assert back.shape == (1, 1, 100, 50) and torch.allclose(back, torch.ones_like(back))
    # corners map onto corners exactly (align_corners=True)
    ramp = torch.linspace(0, 1, 40).view(1, 1, 40, 1).expand(1, 1, 40, 20).contiguous()
    back = limit.inv_transform(ramp)
    assert back[0, 0, 0, 0] == 0 and back[0, 0, -1, 0] == pytest.approx(1.0)

    small = LimitLongestSide(max_size=400)
    out, clicks = small.transform(image, [[Click(True, (5, 5), 0)]])
    assert out is image and not small.image_changed and clicks[0][0].coords == (5, 5)
    assert small.inv_transform(torch.zeros(1, 1, 100, 50)).shape == (1, 1, 100, 50)


def test_bbox_helpers():
    assert expand_bbox((10, 19, 0, 9), 1.4) == (8, 22, -2, 12)      # 7.5, 21.5, -2.5, 11.5 round half to even
    assert expand_bbox((10, 19, 0, 9), 1.0, min_crop_size=30) == (0, 30, -10, 20)
    assert clamp_bbox((-3, 50, 2, 70), 0, 40, 0, 60) == (0, 40, 2, 60)
    assert get_bbox_iou((0, 9, 0, 9), (0, 9, 0, 9)) == pytest.approx(1.0)
    assert get_bbox_iou((0, 9, 0, 9), (5, 14, 0, 9)) == pytest.approx(5 / 15)
    assert check_object_roi((0, 10, 0, 10), [Click(True, (9, 9))])
    assert not check_object_roi((0, 10, 0, 10), [Click(True, (10, 5))])   # half-open on the max side
    assert check_object_roi((0, 10, 0, 10), [Click(False, (50, 50))])      # negatives not checked


def test_zoom_in_geometry_on_known_clicks():
    height, width = 300, 400
    image = torch.rand(1, 3, height, width)
    zoom = ZoomIn(target_size=100, skip_clicks=1, expansion_ratio=1.4, min_crop_size=20)
    first = [Click(True, (125, 200), 0)]
    out, clicks = zoom.transform(image, [first])
    assert out is image and clicks[0] is first                      # first click: whole image
    probs = torch.zeros(1, 1, height, width)
    probs[:, :, 100:150, 150:250] = 0.9                              # predicted object box
    assert torch.equal(zoom.inv_transform(probs), probs)

    second = first + [Click(False, (120, 160), 1)]
    out, clicks = zoom.transform(image, [second])
    # box rows 100..149, cols 150..249 -> expanded by 1.4 about (124.5, 199.5): 70 x 140
    roi = (90, 160, 130, 270)
    assert zoom.object_roi == roi == get_object_roi(probs[0, 0].numpy() > 0.5, second, 1.4, 20)
    assert zoom.image_changed
    crop_h, crop_w = round(71 * 100 / 141), 100
    assert out.shape == (1, 3, crop_h, crop_w)
    assert torch.allclose(out[0, :, 0, 0], image[0, :, 90, 130])
    assert torch.allclose(out[0, :, -1, -1], image[0, :, 160, 270])
    assert clicks[0][0].coords == pytest.approx((crop_h * 35 / 71, crop_w * 70 / 141))
    assert clicks[0][1].coords == pytest.approx((crop_h * 30 / 71, crop_w * 30 / 141))
    assert not clicks[0][1].is_positive and clicks[0][1].indx == 1

    full = zoom.inv_transform(torch.ones(1, 1, crop_h, crop_w))
    assert full.shape == (1, 1, height, width)
    assert full[0, 0, 90:161, 130:271].eq(1).all()
    assert full.sum() == 71 * 141

    # the same ROI is kept while clicks stay inside it and the boxes overlap
    zoom.inv_transform(get_roi_image_nd(probs, roi, 100))
    state = zoom.get_state()
    zoom.transform(image, [second + [Click(True, (130, 200), 2)]])
    assert zoom.object_roi == roi and not zoom.image_changed
    # a positive click outside the ROI forces a new one
    zoom.transform(image, [second + [Click(True, (290, 390), 2)]])
    assert zoom.object_roi != roi and zoom.image_changed
    zoom.set_state(state)
    assert zoom.object_roi == roi
    zoom.reset()
    assert zoom.object_roi is None


def test_zoom_in_fixed_mode_zooms_from_first_click():
    image = torch.rand(1, 3, 60, 80)
    zoom = ZoomIn(target_size=(32, 32), skip_clicks=-1)
    out, clicks = zoom.transform(image, [[Click(True, (59, 79), 0)]])
    assert out.shape == (1, 3, 32, 32) and zoom.object_roi == (0, 59, 0, 79)
    assert clicks[0][0].coords == pytest.approx((32 * 59 / 60, 32 * 79 / 80))
    back = zoom.inv_transform(torch.rand(1, 1, 32, 32))
    assert back.shape == (1, 1, 60, 80)


def test_zoom_in_recalculation_check_only_for_skip_zero():
    zoom = ZoomIn(skip_clicks=0, min_crop_size=10)
    image = torch.rand(1, 3, 200, 200)
    zoom.transform(image, [[Click(True, (100, 100), 0)]])
    small = torch.zeros(1, 1, 200, 200)
    small[:, :, 95:105, 95:105] = 1
    zoom.inv_transform(small)
    assert zoom.check_possible_recalculation()
    other = ZoomIn(skip_clicks=1)
    other.transform(image, [[Click(True, (100, 100), 0)]])
    other.inv_transform(small)
    assert not other.check_possible_recalculation()


def test_zoom_in_needs_single_image():
    with pytest.raises(ValueError):
        ZoomIn().transform(torch.rand(2, 3, 10, 10), [[], []])
