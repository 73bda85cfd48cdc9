"""SUEM (CFR-ICL's copy-paste and image mix): mask bookkeeping, blending, determinism."""
import cv2
import numpy as np
import pytest
import torch
from data_fakes import InMemoryDataset, rgb_image, two_object_sample

from isegm.data.augment import SUEM, mix_images, object_patch, paste_object
from isegm.data.points_sampler import MultiPointSampler
from isegm.data.sample import DSample
from isegm.data.transforms import ritm_train_augmentator


def _disk_patch(h=12, w=16, seed=5):
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - h / 2 + 0.5) / (h / 2)) ** 2 + ((xx - w / 2 + 0.5) / (w / 2)) ** 2 <= 1.0
    return rgb_image(h, w, seed=seed), mask


def _source_sample(seed=7):
    """60x80 sample with one 10x14 object (id 3) at (y, x) = (30, 40)."""
    masks = np.zeros((60, 80), np.int32)
    masks[30:40, 40:54] = 3
    return DSample(rgb_image(60, 80, seed=seed), masks, objects_ids=[3], sample_id=99, name="source")


def test_pasted_pixels_appear_at_the_pasted_place():
    sample = two_object_sample()
    patch, mask = _disk_patch()
    result, new_id = paste_object(sample, patch, mask, (30, 20), alpha=1.0)
    y0, x0, (h, w) = 30, 20, mask.shape
    np.testing.assert_array_equal(result.image[y0:y0 + h, x0:x0 + w][mask], patch[mask])
    covered = np.zeros(sample.image.shape[:2], bool)
    covered[y0:y0 + h, x0:x0 + w] = mask
    np.testing.assert_array_equal(result.image[~covered], sample.image[~covered])
    assert new_id == 2 and result.objects[new_id]["parent"] is None
    np.testing.assert_array_equal(result.get_object_mask(new_id) == 1, covered)


def test_paste_blends_with_alpha():
    sample = two_object_sample()
    patch, mask = _disk_patch()
    result, _ = paste_object(sample, patch, mask, (5, 5), alpha=0.7)
    region = sample.image[5:17, 5:21].astype(np.float64)
    expected = np.rint(0.7 * patch.astype(np.float64) + 0.3 * region)
    np.testing.assert_allclose(result.image[5:17, 5:21][mask], expected[mask], atol=1)


def test_occluded_object_loses_exactly_the_covered_pixels():
    sample = two_object_sample()            # object 0 = id 1 at [10:40, 10:40], object 1 = id 2, ignore strip rows 0..2
    before = {k: sample.get_object_mask(k).copy() for k in sample.objects_ids}
    patch = rgb_image(20, 20, seed=3)
    mask = np.ones((20, 20), bool)
    result, new_id = paste_object(sample, patch, mask, (0, 25))   # covers [0:20, 25:45]
    covered = np.zeros(sample.image.shape[:2], bool)
    covered[0:20, 25:45] = True
    assert sorted(result.objects_ids) == [0, 1, new_id] and new_id == 2
    assert result.objects[0]["mapping"] == sample.objects[0]["mapping"]
    expected0 = (before[0] == 1) & ~covered
    np.testing.assert_array_equal(result.get_object_mask(0) == 1, expected0)
    assert (before[0] == 1).sum() - expected0.sum() == ((before[0] == 1) & covered).sum() > 0
    np.testing.assert_array_equal(result.get_object_mask(1) == 1, before[1] == 1)   # not touched
    # the ignore strip under the pasted object now belongs to it
    ignore = result.get_ignore_mask()
    assert not ignore[covered].any() and ignore[0:3, :25].all() and ignore[0:3, 45:].all()
    # the input sample is unchanged
    np.testing.assert_array_equal(sample.get_object_mask(0), before[0])


def test_tiny_remnants_are_dropped_and_erased():
    sample = two_object_sample()
    patch = rgb_image(30, 29, seed=3)
    mask = np.ones((30, 29), bool)                 # covers object 0's [10:40, 10:40] except column 39
    kept, _ = paste_object(sample, patch, mask, (10, 10), min_remnant_area=1)
    assert 0 in kept.objects_ids and (kept.get_object_mask(0) == 1).sum() == 30
    dropped, new_id = paste_object(sample, patch, mask, (10, 10), min_remnant_area=31)
    assert sorted(dropped.objects_ids) == [1, new_id]
    layer, mask_id = sample.objects[0]["mapping"]
    assert not (dropped.encoded_masks[:, :, layer] == mask_id).any()
    assert (dropped.get_object_mask(1) == 1).sum() == (sample.get_object_mask(1) == 1).sum()


def test_hierarchy_survives_a_dropped_parent():
    masks = np.zeros((40, 40, 2), np.int32)
    masks[5:25, 5:25, 0] = 1          # whole
    masks[20:30, 20:30, 1] = 1        # part, partly outside the whole
    objects = {0: {"mapping": (0, 1), "parent": None, "children": [1]},
               1: {"mapping": (1, 1), "parent": 0, "children": []}}
    sample = DSample(rgb_image(40, 40), masks, objects=objects)
    result, new_id = paste_object(sample, rgb_image(20, 20), np.ones((20, 20), bool), (5, 5), min_remnant_area=5)
    assert 0 not in result.objects_ids and result.objects[1]["parent"] is None and new_id == 2


def test_paste_refuses_a_patch_that_does_not_fit():
    sample = two_object_sample()
    patch, mask = _disk_patch()
    with pytest.raises(ValueError, match="does not fit"):
        paste_object(sample, patch, mask, (55, 0))
    with pytest.raises(ValueError, match="alpha"):
        paste_object(sample, patch, mask, (0, 0), alpha=1.5)


def test_mix_images_is_the_weighted_blend():
    a, b = rgb_image(8, 9, seed=1), rgb_image(8, 9, seed=2)
    np.testing.assert_array_equal(mix_images(a, b, 1.0), a)
    np.testing.assert_array_equal(mix_images(a, b, 0.0), b)
    with pytest.raises(ValueError, match="one shape"):
        mix_images(a, b[:4], 0.5)


def test_suem_image_mix_uses_the_drawn_weight():
    sample, other = two_object_sample(), _source_sample()
    suem = SUEM(image_mix_prob=1.0, mix_alpha_range=(0.5, 1.0))
    result, record = suem(sample, lambda: other, np.random.default_rng(4))
    alpha = record["image_mix"]["alpha"]
    assert 0.5 <= alpha <= 1.0 and "copy_paste" not in record
    expected = np.rint(alpha * sample.image.astype(np.float64) + (1 - alpha) * other.image.astype(np.float64))
    np.testing.assert_allclose(result.image, expected, atol=1)   # float32 blend: at most 1 level off
    assert np.abs(result.image.astype(int) - expected).mean() < 0.01
    assert not np.array_equal(result.image, sample.image)
    np.testing.assert_array_equal(result.encoded_masks, sample.encoded_masks)
    assert result.objects_ids == sample.objects_ids


def test_suem_copy_paste_puts_the_source_object_where_it_says():
    sample, other = two_object_sample(), _source_sample()
    suem = SUEM(copy_paste_prob=1.0, paste_scale_range=(1.0, 1.0), paste_alpha_range=(1.0, 1.0), paste_flip_prob=0.0)
    result, record = suem(sample, lambda: other, np.random.default_rng(0))
    info = record["copy_paste"]
    (y0, x0), (h, w) = info["top_left"], info["size"]
    assert (h, w) == (10, 14) and info["source_object"] == 0 and not info["flip"]
    np.testing.assert_array_equal(result.image[y0:y0 + h, x0:x0 + w], other.image[30:40, 40:54])
    np.testing.assert_array_equal(np.argwhere(result.get_object_mask(info["object_id"]) == 1).min(0), (y0, x0))
    assert (result.get_object_mask(info["object_id"]) == 1).sum() == 140


def test_suem_copy_paste_scales_and_flips_with_albumentations():
    sample, other = two_object_sample(), _source_sample()
    suem = SUEM(copy_paste_prob=1.0, paste_scale_range=(2.0, 2.0), paste_alpha_range=(1.0, 1.0), paste_flip_prob=1.0)
    result, record = suem(sample, lambda: other, np.random.default_rng(0))
    info = record["copy_paste"]
    assert info["size"] == (20, 28) and info["flip"]
    obj = result.get_object_mask(info["object_id"]) == 1
    assert obj.sum() == 20 * 28
    (y0, x0) = info["top_left"]
    expected = cv2.resize(other.image[30:40, 40:54], (28, 20), interpolation=cv2.INTER_LINEAR)[:, ::-1]
    np.testing.assert_array_equal(result.image[y0:y0 + 20, x0:x0 + 28], expected)


def test_zero_probabilities_are_the_identity():
    sample = two_object_sample()
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    calls = []
    result, record = SUEM()(sample, lambda: calls.append(1), rng)
    assert result is sample and record == {} and not calls and rng.bit_generator.state == state


def _dataset(suem, n=4):
    makers = [two_object_sample, _source_sample] * (n // 2)
    ds = InMemoryDataset(makers, augmentator=ritm_train_augmentator((48, 64)), points_sampler=MultiPointSampler(5),
                         min_object_area=10, epoch_len=6, suem=suem)
    ds.set_item_seeding(17, epoch=2)
    return ds


def _equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in ("images", "points", "instances"))


def test_dataset_with_zero_probabilities_is_bit_identical():
    plain, zero = _dataset(None), _dataset(SUEM(copy_paste_prob=0.0, image_mix_prob=0.0))
    for i in range(6):
        assert _equal(plain[i], zero[i])


def test_dataset_items_depend_only_on_seed_epoch_index():
    suem = SUEM(copy_paste_prob=1.0, image_mix_prob=1.0)
    a, b = _dataset(suem), _dataset(suem)
    forward = [a[i] for i in range(6)]
    backward = [b[i] for i in reversed(range(6))][::-1]
    for x, y in zip(forward, backward):
        assert _equal(x, y)
    # SUEM changed the items, and drew its other samples (more reads than items)
    plain = _dataset(None)
    assert not all(_equal(plain[i], forward[i]) for i in range(6))
    assert len(a.calls) > 6
    b.set_item_seeding(17, epoch=3)
    assert not all(_equal(b[i], forward[i]) for i in range(6))


def test_subset_can_switch_suem_off():
    ds = _dataset(SUEM(copy_paste_prob=1.0))
    val = ds.subset([0, 1], suem=None)
    assert val.suem is None and ds.suem is not None


@pytest.mark.parametrize("kwargs, match", [({"copy_paste_prob": 1.5}, "copy_paste_prob"),
                                           ({"image_mix_prob": -0.1}, "image_mix_prob"),
                                           ({"mix_alpha_range": (0.9, 0.5)}, "mix_alpha_range"),
                                           ({"paste_alpha_range": (0.5, 2.0)}, "paste_alpha_range"),
                                           ({"paste_scale_range": 1.0}, "paste_scale_range")])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SUEM(**kwargs)


def test_object_patch_is_the_bounding_box():
    image, mask = object_patch(_source_sample(), 0)
    assert image.shape == (10, 14, 3) and mask.all()


def test_dataloader_workers_give_the_in_process_items():
    ds = _dataset(SUEM(copy_paste_prob=1.0, image_mix_prob=0.5))
    expected = [ds[i] for i in range(6)]
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2)
    for item, batch in zip(expected, loader):
        assert all(torch.equal(item[k], batch[k][0]) for k in ("images", "points", "instances"))


def test_an_other_sample_without_object_pixels_is_not_pasted_from():
    masks = np.zeros((60, 80), np.int32)
    masks[10:20, 10:20] = 1
    masks[10:20, 10:20] = 9           # the object is all ignore
    hidden = DSample(rgb_image(60, 80), masks, objects_ids=[1], ignore_ids=[9])
    sample = two_object_sample()
    result, record = SUEM(copy_paste_prob=1.0)(sample, lambda: hidden, np.random.default_rng(0))
    assert result is sample and record == {}
