"""Pseudo-objects (isegm.data.pseudo): superpixel regions and synthetic shapes as training targets."""
import numpy as np
import pytest
import torch
from data_fakes import InMemoryDataset, two_object_sample

from isegm.data.points_sampler import MultiPointSampler
from isegm.data.pseudo import PseudoObjects, superpixel_region, synthetic_shape
from isegm.data.sample import DSample
from isegm.data.transforms import ritm_train_augmentator


def _quadrants(h=64, w=80):
    """Four flat colour quadrants: Felzenszwalb finds exactly these four segments."""
    image = np.zeros((h, w, 3), np.uint8)
    image[:h // 2, :w // 2] = (200, 30, 30)
    image[:h // 2, w // 2:] = (190, 40, 35)      # close in colour to the top-left quadrant
    image[h // 2:, :w // 2] = (20, 20, 220)
    image[h // 2:, w // 2:] = (30, 220, 20)
    return image


def test_superpixel_region_is_a_connected_union_of_whole_segments():
    from scipy import ndimage
    from skimage.segmentation import felzenszwalb

    image = _quadrants()
    labels = felzenszwalb(image, scale=50, sigma=0.8, min_size=20)   # what superpixel_region computes here
    for seed in range(20):
        mask = superpixel_region(image, np.random.default_rng(seed), scales=(50,), max_merges=3, area_range=(0.01, 0.6))
        assert mask is not None and 0.01 <= mask.mean() <= 0.6
        for label in np.unique(labels):
            segment = labels == label
            assert mask[segment].all() or not mask[segment].any(), "a region never cuts a segment"
        assert ndimage.label(mask)[1] == 1, "merges are between adjacent segments"


def test_superpixel_region_is_reproducible_and_respects_the_area_range():
    image = np.random.default_rng(3).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    a = superpixel_region(image, np.random.default_rng(7))
    b = superpixel_region(image, np.random.default_rng(7))
    assert a is not None and np.array_equal(a, b)
    assert 0.01 <= a.mean() <= 0.5
    assert superpixel_region(_quadrants(), np.random.default_rng(0), scales=(50,), area_range=(0.9, 1.0)) is None


def test_synthetic_shape_fits_the_canvas_and_its_size_range():
    for seed in range(10):
        mask = synthetic_shape(60, 90, np.random.default_rng(seed), size_range=(0.3, 0.5))
        assert mask.shape == (60, 90) and mask.dtype == bool and mask.any()
        ys, xs = np.nonzero(mask)
        assert max(np.ptp(ys), np.ptp(xs)) + 1 <= 0.5 * 60 + 2


def test_pseudo_objects_replace_the_target_with_one_object():
    sample = two_object_sample()
    other = DSample(np.full_like(sample.image, 7), np.zeros(sample.image.shape[:2], np.int32))
    result, record = PseudoObjects(synthetic_prob=1.0)(sample, lambda: other, np.random.default_rng(1))
    assert record == {"kind": "synthetic"} and len(result) == 1
    mask = result.get_object_mask(result.objects_ids[0]) == 1
    assert (result.image[mask] == 7).all()                       # the shape carries the other crop's pixels
    assert np.array_equal(result.image[~mask], sample.image[~mask])
    result, record = PseudoObjects(superpixel_prob=1.0)(sample, lambda: None, np.random.default_rng(1))
    assert record == {"kind": "superpixel"} and len(result) == 1 and result.image is sample.image


def test_zero_probabilities_are_the_identity_and_draw_nothing():
    sample, rng = two_object_sample(), np.random.default_rng(0)
    state = rng.bit_generator.state
    result, record = PseudoObjects()(sample, lambda: None, rng)
    assert result is sample and record == {} and rng.bit_generator.state == state


def _dataset(pseudo):
    ds = InMemoryDataset([two_object_sample] * 4, augmentator=ritm_train_augmentator((48, 64)),
                         points_sampler=MultiPointSampler(5), min_object_area=10, epoch_len=6, pseudo_objects=pseudo)
    ds.set_item_seeding(11, epoch=0)
    return ds


def test_dataset_items_change_and_stay_reproducible():
    pseudo = PseudoObjects(superpixel_prob=0.5, synthetic_prob=0.5)
    a, b = _dataset(pseudo), _dataset(pseudo)
    plain = _dataset(None)
    items = [a[i] for i in range(6)]
    again = [b[i] for i in reversed(range(6))][::-1]
    for x, y in zip(items, again):
        assert all(torch.equal(x[k], y[k]) for k in ("images", "points", "instances"))
    assert not all(torch.equal(plain[i]["instances"], items[i]["instances"]) for i in range(6))
    assert a.subset([0], pseudo_objects=None).pseudo_objects is None


@pytest.mark.parametrize("kwargs, match", [({"superpixel_prob": 1.5}, "superpixel_prob"),
                                           ({"superpixel_prob": 0.6, "synthetic_prob": 0.6}, "<= 1"),
                                           ({"scales": ()}, "scales"),
                                           ({"area_range": (0.5, 0.1)}, "area_range"),
                                           ({"max_merges": -1}, "max_merges")])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PseudoObjects(**kwargs)
