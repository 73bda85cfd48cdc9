"""Training augmentations: UniformRandomResize and the RITM pipelines."""
import albumentations as A
import numpy as np
import pytest
from data_fakes import rgb_image

from isegm.data.transforms import (UniformRandomResize, remove_image_only_transforms, ritm_train_augmentator,
                                   ritm_val_augmentator)


def test_uniform_random_resize_rounds_like_ritm_and_keeps_ids():
    image = rgb_image(41, 63)
    mask = np.zeros((41, 63, 2), np.int32)
    mask[5:20, 5:30, 0] = 7
    mask[10:30, 20:50, 1] = 3
    scales = []
    for seed in range(5):
        pipeline = A.ReplayCompose([UniformRandomResize(scale_range=(0.75, 1.4))])
        pipeline.set_random_seed(seed)
        out = pipeline(image=image, mask=mask)
        scale = out["replay"]["transforms"][0]["params"]["scale"]
        scales.append(scale)
        h, w = out["image"].shape[:2]
        assert 0.75 <= scale <= 1.4
        assert (h, w) == (round(41 * scale), round(63 * scale))
        assert out["mask"].shape == (h, w, 2) and out["mask"].dtype == np.int32
        assert set(np.unique(out["mask"][:, :, 0])) == {0, 7} and set(np.unique(out["mask"][:, :, 1])) == {0, 3}
    assert len(set(scales)) == 5
    fixed = UniformRandomResize(scale_range=(1.5, 1.5))(image=image, mask=mask)
    assert fixed["image"].shape[:2] == (62, 94)  # round(61.5), round(94.5) with banker's rounding -> 62, 94


def test_uniform_random_resize_validates_range():
    with pytest.raises(ValueError, match="scale_range"):
        UniformRandomResize(scale_range=(1.2, 0.8))
    with pytest.raises(ValueError, match="scale_range"):
        UniformRandomResize(scale_range=(0, 1))


def test_ritm_pipelines_shapes_and_determinism():
    image = rgb_image(200, 150)
    mask = np.zeros((200, 150), np.int32)
    mask[50:150, 40:120] = 1
    out1 = ritm_train_augmentator((96, 128), seed=5)(image=image, mask=mask)
    out2 = ritm_train_augmentator((96, 128), seed=5)(image=image, mask=mask)
    assert out1["image"].shape == (96, 128, 3) and out1["image"].dtype == np.uint8
    assert out1["mask"].shape == (96, 128)
    assert np.array_equal(out1["image"], out2["image"]) and np.array_equal(out1["mask"], out2["mask"])
    val = ritm_val_augmentator((320, 480), seed=0)(image=image, mask=mask)
    assert val["image"].shape == (320, 480, 3)
    # padding is black / background
    assert val["mask"].sum() == mask.sum()
    with pytest.raises(ValueError, match="crop_size"):
        ritm_val_augmentator((0, 10))


def test_remove_image_only_transforms():
    replay = ritm_train_augmentator((32, 32), replay=True)(image=rgb_image(40, 40),
                                                           mask=np.zeros((40, 40), np.int32))["replay"]
    names = [t["__class_fullname__"] for t in remove_image_only_transforms(replay)["transforms"]]
    assert "RGBShift" not in names and "RandomBrightnessContrast" not in names
    assert any("UniformRandomResize" in n for n in names) and "RandomCrop" in names
    # the original record is untouched
    assert "RGBShift" in [t["__class_fullname__"] for t in replay["transforms"]]
