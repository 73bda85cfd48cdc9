"""Loaders on the real benchmark files in ../shared/datasets (skipped where absent)."""
import cv2
import numpy as np

from isegm.data.datasets import BerkeleyDataset, COCOMValDataset, GrabCutDataset, get_dataset


def test_grabcut(grabcut_path):
    ds = get_dataset("GrabCut", grabcut_path)
    assert isinstance(ds, GrabCutDataset)
    assert ds.get_samples_number() == 50 and len(ds) == 50 and ds.skipped == []
    with_ignore = 0
    for index in range(len(ds)):
        sample = ds.get_sample(index)
        gt = sample.gt_mask
        assert sample.image.dtype == np.uint8 and sample.image.shape[:2] == gt.shape
        assert set(np.unique(gt)) <= {-1, 0, 1} and (gt == 1).any()
        raw = cv2.imread(str(ds.dataset_samples[index].mask), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(gt == -1, raw == 128) and np.array_equal(gt == 1, raw == 255)
        with_ignore += bool((gt == -1).any())
    assert with_ignore > 25
    # RGB order: compare with OpenCV's BGR read of one image
    record = ds.dataset_samples[0]
    assert np.array_equal(ds.get_sample(0).image, cv2.imread(str(record.image))[:, :, ::-1])
    assert {p.image.suffix for p in ds.dataset_samples} >= {".jpg", ".bmp", ".JPG"}


def test_berkeley(berkeley_path):
    ds = get_dataset("berkeley", berkeley_path)      # names are case-insensitive
    assert isinstance(ds, BerkeleyDataset)
    assert len(ds) == 100 and ds.skipped == []
    names = [ds.get_sample_name(i) for i in range(len(ds))]
    for name in ("189011", "189011a", "189011b", "239007a", "239007b"):
        assert name in names
    by_name = dict(zip(names, ds.dataset_samples))
    assert by_name["189011a"].image == by_name["189011b"].image == by_name["189011"].image
    # the rotated image is a PNG and lines up with its portrait mask
    index = names.index("101087")
    assert ds.dataset_samples[index].image.name == "101087.png"
    sample = ds.get_sample(index)
    assert sample.image.shape == (481, 321, 3) and sample.gt_mask.shape == (481, 321)
    masks = set()
    for i in range(len(ds)):
        s = ds.get_sample(i)
        gt = s.gt_mask
        assert s.image.shape[:2] == gt.shape and (gt == 1).any()
        masks.add(int((gt == 1).sum()))
    assert len(masks) > 90       # a/b masks are different objects


def test_coco_mval(coco_mval_path):
    ds = get_dataset("COCO_MVal", coco_mval_path)
    assert isinstance(ds, COCOMValDataset)
    assert len(ds) == 800 and ds.skipped == []
    for index in range(800):
        sample = ds.get_sample(index)
        assert sample.image.shape[:2] == sample.gt_mask.shape and max(sample.image.shape[:2]) <= 480
        assert (sample.gt_mask == 1).any()
    assert ds.get_sample_name(0) == ds.dataset_samples[0].image.stem
