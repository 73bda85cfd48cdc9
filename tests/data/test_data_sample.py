"""DSample: masks, ignore regions, object tree, augmentation."""
import albumentations as A
import cv2
import numpy as np
import pytest
from data_fakes import rgb_image, two_object_sample

from isegm.data.sample import DSample, labels_with_sizes
from isegm.data.transforms import ritm_train_augmentator


def test_labels_with_sizes_handles_negative_ids():
    layer = np.array([[0, -1, 3], [3, 3, -1]])
    assert labels_with_sizes(layer) == ([-1, 3], [2, 3])


def test_object_masks_and_ignore():
    sample = two_object_sample()
    assert len(sample) == 2 and sample.objects_ids == [0, 1] and sample.root_objects == [0, 1]
    m0 = sample.get_object_mask(0)
    assert m0.dtype == np.int32 and m0.shape == (60, 80)
    assert (m0[10:40, 10:40] == 1).all() and m0[45, 60] == 0
    assert (m0[0:3] == -1).all()
    assert sample.get_ignore_mask()[0:3].all() and not sample.get_ignore_mask()[3:].any()
    bg = sample.get_background_mask()
    assert not bg[0, 0] and not bg[15, 15] and bg[55, 5]
    with pytest.raises(ValueError, match="one object"):
        _ = sample.gt_mask
    with pytest.raises(KeyError, match="known ids"):
        sample.get_object_mask(7)


def test_gt_mask_single_object_and_default_objects():
    mask = np.zeros((20, 30), np.int32)
    mask[5:10, 5:10] = 1
    mask[0, :] = -1
    sample = DSample(rgb_image(20, 30), mask, objects_ids=[1], ignore_ids=[-1])
    gt = sample.gt_mask
    assert set(np.unique(gt)) == {-1, 0, 1} and gt[7, 7] == 1 and gt[0, 3] == -1
    # without objects_ids every non-zero, non-ignored id is an object
    multi = np.zeros((20, 30, 2), np.int32)
    multi[1:4, 1:4, 0] = 3
    multi[2:6, 2:6, 1] = 5
    multi[10, 10, 1] = 7
    auto = DSample(rgb_image(20, 30), multi, ignore_ids=[(1, 7)])
    assert sorted(info["mapping"] for info in auto.objects.values()) == [(0, 3), (1, 5)]


def test_empty_sample_gt_mask_has_no_object():
    sample = DSample(rgb_image(10, 10), np.zeros((10, 10), np.int32), objects_ids=[])
    assert len(sample) == 0 and not (sample.gt_mask == 1).any()


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="uint8"):
        DSample(np.zeros((5, 5, 3), np.float32), np.zeros((5, 5), np.int32))
    with pytest.raises(ValueError, match="differs"):
        DSample(rgb_image(5, 5), np.zeros((6, 5), np.int32))
    with pytest.raises(ValueError, match="layer"):
        DSample(rgb_image(5, 5), np.zeros((5, 5, 2), np.int32), objects_ids=[1])


def test_remove_small_objects_reattaches_children():
    masks = np.zeros((30, 30, 3), np.int32)
    masks[0:20, 0:20, 0] = 1      # whole
    masks[2:12, 2:12, 1] = 1      # part (100 px)
    masks[3:5, 3:5, 2] = 1        # sub-part (4 px)
    tree = {0: {"mapping": (0, 1), "parent": None, "children": [1]},
            1: {"mapping": (1, 1), "parent": 0, "children": [2]},
            2: {"mapping": (2, 1), "parent": 1, "children": []}}
    sample = DSample(rgb_image(30, 30), masks, objects=tree)
    sample.remove_small_objects(50)
    assert sample.objects_ids == [0, 1]
    sample.remove_small_objects(200)
    assert sample.objects_ids == [0] and sample.objects[0]["children"] == []
    tree2 = {0: {"mapping": (0, 1), "parent": None, "children": [1]},
             1: {"mapping": (1, 1), "parent": 0, "children": [2]},
             2: {"mapping": (2, 1), "parent": 1, "children": []}}
    masks2 = masks.copy()
    masks2[:, :, 2] = 0
    masks2[0:15, 0:15, 2] = 1     # a sub-part larger than its 100 px parent: only the parent goes
    sample2 = DSample(rgb_image(30, 30), masks2, objects=tree2)
    sample2.remove_small_objects(150)
    assert sample2.objects_ids == [0, 2]
    assert sample2.objects[2]["parent"] == 0 and sample2.objects[0]["children"] == [2]


def _coloured_sample():
    """Image whose pixels encode the object: red inside object 1, green inside object 2."""
    h, w = 60, 80
    masks = np.zeros((h, w, 2), np.int32)
    masks[10:40, 10:40, 0] = 1
    masks[20:50, 30:75, 1] = 4      # overlaps object 1 in another layer
    masks[55:60, :, 0] = 8          # ignore strip
    image = np.zeros((h, w, 3), np.uint8)
    image[masks[:, :, 0] == 1, 0] = 255
    image[masks[:, :, 1] == 4, 1] = 255
    return DSample(image, masks, objects_ids=[(0, 1), (1, 4)], ignore_ids=[(0, 8)])


def test_augment_keeps_image_and_masks_aligned():
    aug = A.Compose([A.HorizontalFlip(p=1.0), A.Affine(rotate=(10, 10), p=1.0, border_mode=0,
                                                       interpolation=cv2.INTER_NEAREST),
                     A.RandomCrop(50, 70)], seed=3)
    sample = _coloured_sample()
    sample.augment(aug)
    assert sample.image.shape == (50, 70, 3) and sample.encoded_masks.shape == (50, 70, 2)
    for obj_id, channel in ((0, 0), (1, 1)):
        obj = sample.get_object_mask(obj_id) == 1
        assert obj.sum() > 100
        assert (sample.image[obj, channel] == 255).all()
        assert (sample.image[~obj & ~sample.get_ignore_mask(), channel] == 0).mean() > 0.99
    # augmenting again starts from the original data
    sample.augment(A.Compose([A.NoOp()]))
    assert sample.image.shape == (60, 80, 3) and len(sample) == 2


def test_augment_drops_vanished_objects_and_keeps_ignore():
    sample = _coloured_sample()
    sample.augment(A.Compose([A.Crop(x_min=0, y_min=42, x_max=80, y_max=60)]))
    # object 1 (rows 10..39) is gone, object 2 (rows 20..49) and the ignore strip remain
    assert len(sample) == 1 and sample.objects[sample.objects_ids[0]]["mapping"] == (1, 4)
    mask = sample.get_object_mask(sample.objects_ids[0])
    assert (mask[13:18] == -1).all() and (mask[0:8, 30:75] == 1).all()
    sample.reset_augmentation()
    assert len(sample) == 2 and sample.image.shape == (60, 80, 3)


def test_augment_erases_ids_of_unknown_objects():
    masks = np.zeros((20, 20), np.int32)
    masks[0:5, 0:5] = 1
    masks[10:15, 10:15] = 2            # present in the mask but not an object
    sample = DSample(rgb_image(20, 20), masks, objects_ids=[1])
    sample.augment(A.Compose([A.NoOp()]))
    assert sample.get_background_mask()[12, 12]


def test_soft_object_mask_with_replay():
    sample = _coloured_sample()
    sample.augment(ritm_train_augmentator(crop_size=(48, 64), scale_range=(1.3, 1.3), seed=0, replay=True))
    for obj_id in sample.objects_ids:
        soft = sample.get_soft_object_mask(obj_id)
        hard = sample.get_object_mask(obj_id) == 1
        assert soft.dtype == np.float32 and soft.shape == hard.shape
        assert 0.0 <= soft.min() and soft.max() <= 1.0
        inter = np.logical_and(soft > 0.5, hard).sum()
        union = np.logical_or(soft > 0.5, hard).sum()
        assert inter / union > 0.9
    plain = _coloured_sample()
    plain.augment(A.Compose([A.HorizontalFlip(p=1)]))
    with pytest.raises(RuntimeError, match="ReplayCompose"):
        plain.get_soft_object_mask(0)
