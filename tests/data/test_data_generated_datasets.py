"""Loaders on small generated fixtures (DAVIS, SBD, PASCAL VOC, COCO json, images/masks) and bad input."""
import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
import scipy.io
from data_fakes import box_mask, rgb_image, write_mask, write_rgb

from isegm.data import registry
from isegm.data.datasets import (CocoJsonDataset, DavisDataset, ImagesDirDataset, PascalVocDataset,
                                 SBDDataset, SBDEvaluationDataset, get_dataset)
from isegm.data.datasets.pascalvoc import voc_colormap
from isegm.data.transforms import ritm_val_augmentator
from isegm.errors import UserError

H, W = 30, 40


# ---------------------------------------------------------------------------------------------- registry
def test_registry_names_and_unknown_name(tmp_path):
    for name in ("GrabCut", "Berkeley", "DAVIS", "COCO_MVal", "SBD", "SBD_train", "PascalVOC", "PascalVOC_train",
                 "ImagesDir", "CocoJson", "LVIS"):
        assert name in registry.REGISTRY
    with pytest.raises(UserError, match="NoSuchSet.*known datasets: GrabCut, Berkeley"):
        get_dataset("NoSuchSet", tmp_path)
    with pytest.raises(UserError, match="did you mean GrabCut"):
        registry.resolve("GrabCat")


def test_registry_aliases_and_config_keys():
    # RITM spellings and any case resolve to one entry
    assert registry.resolve("SBD_Train") is registry.resolve("sbd_train") is registry.REGISTRY["SBD_train"]
    assert registry.resolve("coco_mval").name == "COCO_MVal"
    assert registry.resolve("LVIS_v1").name == "LVIS" and registry.resolve("coco").name == "CocoJson"
    # every entry has a config key known to isegm.config and a layout line
    from isegm.config import KNOWN_KEYS
    for spec in registry.REGISTRY.values():
        assert spec.config_key in KNOWN_KEYS, spec.name
        assert spec.layout and spec.splits
    assert registry.dataset_path({"PASCALVOC_PATH": "/v"}, "pascalvoc_train") == Path("/v")
    with pytest.raises(UserError, match="IMAGES_DIR_PATH"):
        registry.dataset_path({}, "ImagesDir")


def test_dataset_path_flags_become_config_overrides():
    """--dataset-path NAME=PATH (evaluate_model.py, compare_models.py): any spelling of the name, later wins."""
    assert registry.dataset_path_overrides(["imagesdir=/a", "GrabCut= /g ", "ImagesDir=/b"]) == {
        "IMAGES_DIR_PATH": "/b", "GRABCUT_PATH": "/g"}
    for item, match in (("ImagesDir", "expected NAME=PATH"), ("ImagesDir=", "expected NAME=PATH"),
                        ("Avalanches=/x", "unknown dataset 'Avalanches'")):
        with pytest.raises(UserError, match=match):
            registry.dataset_path_overrides([item])


@pytest.mark.parametrize("name", ["GrabCut", "Berkeley", "DAVIS", "COCO_MVal", "SBD", "SBD_train", "PascalVOC",
                                  "ImagesDir", "CocoJson", "LVIS"])
def test_missing_folder_names_path_and_layout(tmp_path, name):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        get_dataset(name, missing)
    assert str(missing) in str(info.value) and "Expected layout" in str(info.value)


def test_missing_subfolder_names_it(tmp_path):
    (tmp_path / "img").mkdir()
    with pytest.raises(FileNotFoundError, match="gt"):
        DavisDataset(tmp_path)


# ---------------------------------------------------------------------------------------------- DAVIS
def _davis(tmp_path, n=3):
    for i in range(n):
        write_rgb(tmp_path / "img" / f"frame{i}.jpg", rgb_image(H, W, seed=i))
        write_mask(tmp_path / "gt" / f"frame{i}.png", box_mask(H, W, 5, 20, 5 + i, 25 + i))
    return tmp_path


def test_davis_layout(tmp_path):
    ds = get_dataset("DAVIS", _davis(tmp_path))
    assert len(ds) == 3 and ds.get_sample_name(2) == "frame2"
    sample = ds.get_sample(1)
    assert sample.image.shape == (H, W, 3) and sample.gt_mask.sum() == 15 * 20
    assert sample.gt_mask[10, 6] == 1 and sample.gt_mask[10, 5] == 0


def test_size_mismatch_names_both_files(tmp_path):
    _davis(tmp_path)
    write_mask(tmp_path / "gt" / "frame1.png", box_mask(H + 2, W, 5, 20, 5, 25))
    ds = DavisDataset(tmp_path)
    with pytest.raises(ValueError) as info:
        ds.get_sample(1)
    assert "frame1.jpg" in str(info.value) and "frame1.png" in str(info.value)


def test_unreadable_image_names_it(tmp_path):
    _davis(tmp_path)
    (tmp_path / "img" / "frame0.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="frame0.jpg"):
        DavisDataset(tmp_path).get_sample(0)


def test_empty_mask_is_skipped_and_counted(tmp_path):
    _davis(tmp_path)
    write_mask(tmp_path / "gt" / "frame2.png", np.zeros((H, W), np.uint8))
    write_rgb(tmp_path / "img" / "lonely.jpg", rgb_image(H, W))      # image without a mask
    ds = DavisDataset(tmp_path)
    assert len(ds) == 3 and [n for n, _ in ds.skipped] == ["lonely"]
    assert not (ds.get_sample(2).gt_mask == 1).any()
    assert [i for i, _ in ds.iter_samples()] == [0, 1]
    assert [n for n, _ in ds.skipped] == ["lonely", "frame2"] and "empty" in ds.skipped[1][1]


# ---------------------------------------------------------------------------------------------- SBD
def _sbd(root):
    base = root / "dataset"
    names = ["2008_000001", "2008_000002", "2008_000003"]
    for i, name in enumerate(names):
        write_rgb(base / "img" / f"{name}.jpg", rgb_image(H, W, seed=i))
        seg = np.zeros((H, W), np.uint8)
        seg[2:12, 2:12] = 1
        seg[15:28, 20:38] = 2
        if i == 1:
            seg[0, 0:30] = 3               # thin diagonal-free line: area/bbox = 1 -> not buggy
            seg[np.arange(14, 29), np.arange(2, 17)] = 4    # diagonal: area/bbox = 15/225 < 0.08 -> buggy
        (base / "inst").mkdir(parents=True, exist_ok=True)
        gt = {"Segmentation": seg, "Boundaries": np.zeros((1, 1), object), "Categories": np.array([[1], [2]])}
        scipy.io.savemat(str(base / "inst" / f"{name}.mat"), {"GTinst": gt})
    (base / "train.txt").write_text("\n".join(names[:2]) + "\n")
    (base / "val.txt").write_text(names[2] + "\n")
    return root


def test_sbd_train_and_buggy_masks(tmp_path):
    root = _sbd(tmp_path)
    ds = get_dataset("SBD_train", root)            # parent of dataset/ works
    assert isinstance(ds, SBDDataset) and len(ds) == 2
    sample = ds.get_sample(1)
    mappings = sorted(info["mapping"] for info in sample.objects.values())
    assert mappings == [(0, 1), (0, 2), (0, 3)]     # id 4 removed as buggy
    assert sample.get_background_mask()[20, 8]
    assert len(SBDDataset(root / "dataset", split="train", buggy_mask_thresh=0).get_sample(1)) == 4


def test_sbd_evaluation_one_instance_per_sample(tmp_path):
    ds = get_dataset("SBD", _sbd(tmp_path))
    assert isinstance(ds, SBDEvaluationDataset) and len(ds) == 2
    assert [ds.get_sample_name(i) for i in range(2)] == ["2008_000003_1", "2008_000003_2"]
    assert ds.get_sample(1).gt_mask.sum() == 13 * 18
    train_eval = SBDEvaluationDataset(tmp_path, split="train")
    assert len(train_eval) == 2 + 4


def test_sbd_bad_mat_names_file(tmp_path):
    root = _sbd(tmp_path)
    scipy.io.savemat(str(root / "dataset" / "inst" / "2008_000001.mat"), {"other": np.zeros(3)})
    with pytest.raises(ValueError, match="2008_000001.mat.*GTinst"):
        SBDDataset(root).get_sample(0)
    with pytest.raises(ValueError, match="split"):
        SBDDataset(root, split="test")


# ---------------------------------------------------------------------------------------------- PASCAL VOC
def _voc(root, colour=True):
    base = root / "VOCdevkit" / "VOC2012"
    cmap = voc_colormap()
    for i, name in enumerate(["a", "b"]):
        write_rgb(base / "JPEGImages" / f"{name}.jpg", rgb_image(H, W, seed=i))
        idx = np.zeros((H, W), np.uint8)
        idx[3:13, 3:13] = 1
        idx[15:25, 20:35] = 2
        idx[13, :] = 255                      # border band
        if i == 1:
            idx[:] = 0
            idx[0, :] = 255
        mask = cv2.cvtColor(cmap[idx], cv2.COLOR_RGB2BGR) if colour else idx
        write_mask(base / "SegmentationObject" / f"{name}.png", mask)
    (base / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    (base / "ImageSets" / "Segmentation" / "val.txt").write_text("a\nb\n")
    (base / "ImageSets" / "Segmentation" / "train.txt").write_text("a\n")
    return root


@pytest.mark.parametrize("colour", [True, False])
def test_pascal_voc(tmp_path, colour):
    root = _voc(tmp_path, colour)
    ds = get_dataset("PascalVOC", root)        # val instances, one object each
    assert isinstance(ds, PascalVocDataset) and len(ds) == 2
    assert [n for n, _ in ds.skipped] == ["b"]
    gt = ds.get_sample(1).gt_mask
    assert (gt == 1).sum() == 150 and (gt[13] == -1).all() and gt[5, 5] == 0
    train = get_dataset("PascalVOC_train", root)
    sample = train.get_sample(0)
    assert len(sample) == 2 and (sample.get_object_mask(0)[13] == -1).all()


def test_pascal_voc_ritm_test_pickle(tmp_path):
    root = _voc(tmp_path)
    grey = int(cv2.cvtColor(voc_colormap()[np.newaxis, [2]], cv2.COLOR_RGB2GRAY)[0, 0])
    lists = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation"
    with open(lists / "test.pickle", "wb") as f:
        pickle.dump((["a"], [grey]), f)
    ds = PascalVocDataset(root, split="test")
    assert len(ds) == 1
    gt = ds.get_sample(0).gt_mask
    assert (gt == 1).sum() == 150 and gt[18, 25] == 1 and (gt[13] == -1).all()


def test_pascal_voc_rejects_foreign_colours(tmp_path):
    root = _voc(tmp_path)
    bad = np.zeros((H, W, 3), np.uint8)
    bad[0, 0] = (1, 2, 3)
    write_mask(root / "VOCdevkit" / "VOC2012" / "SegmentationObject" / "a.png", bad)
    with pytest.raises(ValueError, match="a.png.*VOC palette"):
        PascalVocDataset(root, split="train").get_sample(0)


# ---------------------------------------------------------------------------------------------- COCO json
def _coco(root):
    write_rgb(root / "images" / "one.jpg", rgb_image(H, W, seed=1))
    write_rgb(root / "images" / "two.jpg", rgb_image(H, W, seed=2))
    write_rgb(root / "images" / "three.jpg", rgb_image(H, W, seed=3))
    rle_mask = np.asfortranarray(box_mask(H, W, 10, 25, 5, 30, value=1))
    rle = mask_utils.encode(rle_mask)
    rle["counts"] = rle["counts"].decode("ascii")
    data = {
        "images": [{"id": 1, "file_name": "one.jpg", "height": H, "width": W},
                   {"id": 2, "file_name": "two.jpg", "height": H, "width": W},
                   {"id": 3, "coco_url": "http://x/three.jpg", "height": H, "width": W}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]},                  # polygon
            {"id": 11, "image_id": 1, "category_id": 2, "iscrowd": 0, "segmentation": rle},
            {"id": 12, "image_id": 1, "category_id": 1, "iscrowd": 1,
             "segmentation": [[30, 0, 39, 0, 39, 8, 30, 8]]},
            {"id": 13, "image_id": 2, "category_id": 2, "iscrowd": 0,
             "segmentation": {"size": [H, W], "counts": [100, 50, H * W - 150]}},  # uncompressed RLE
            {"id": 14, "image_id": 3, "category_id": 1, "iscrowd": 0,
             "segmentation": [[1, 1, 5, 1, 5, 5]]},
        ],
    }
    (root / "annotations.json").write_text(json.dumps(data))
    return root / "annotations.json"


def test_coco_json_polygon_rle_and_overlap(tmp_path):
    json_path = _coco(tmp_path)
    ds = get_dataset("CocoJson", tmp_path)
    assert isinstance(ds, CocoJsonDataset) and len(ds) == 3
    sample = ds.get_sample(0)
    assert len(sample) == 2
    polygon = sample.get_object_mask(0) == 1
    rle = sample.get_object_mask(1) == 1
    assert polygon[2:12, 2:12].all() and not polygon[20, 20]
    assert rle.sum() == 15 * 25 and rle[10:25, 5:30].all()
    assert (polygon & rle).any(), "overlapping objects are kept in separate layers"
    assert sample.encoded_masks.shape[2] == 2
    second = ds.get_sample(1)
    assert (second.get_object_mask(0) == 1).sum() == 50
    assert ds.get_sample(2).image.shape == (H, W, 3)          # found through coco_url
    # the json file itself works as the path; crowd as ignore region
    with_crowd = CocoJsonDataset(json_path, crowd="ignore")
    crowd_sample = with_crowd.get_sample(0)
    assert len(crowd_sample) == 2 and crowd_sample.get_ignore_mask()[0:8, 30:39].all()


def test_coco_json_filters_and_per_object_samples(tmp_path):
    _coco(tmp_path)
    dogs = CocoJsonDataset(tmp_path, category_names=["dog"])
    assert len(dogs) == 2 and all(len(dogs.get_sample(i)) == 1 for i in range(2))
    per_object = CocoJsonDataset(tmp_path, one_object_per_sample=True)
    assert len(per_object) == 4
    assert per_object.get_sample_name(1) == "one_11" and per_object.get_sample(1).gt_mask.sum() == 15 * 25
    with pytest.raises(ValueError, match="unknown category names.*cat"):
        CocoJsonDataset(tmp_path, category_names=["bird"])


def test_coco_json_size_mismatch_and_bad_json(tmp_path):
    json_path = _coco(tmp_path)
    write_rgb(tmp_path / "images" / "two.jpg", rgb_image(H + 1, W))
    with pytest.raises(ValueError, match="two.jpg.*annotations.json"):
        CocoJsonDataset(json_path).get_sample(1)
    json_path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        CocoJsonDataset(json_path)


# ---------------------------------------------------------------------------------------------- images/masks
def _images_dir(root, n=10):
    for i in range(n):
        write_rgb(root / "images" / f"im{i:02d}.png", rgb_image(H, W, seed=i))
        write_mask(root / "masks" / f"im{i:02d}.png", box_mask(H, W, 2, 10, 2, 10))
    return root


def test_images_dir_binary_instances_and_numbered_masks(tmp_path):
    root = _images_dir(tmp_path, n=3)
    binary = box_mask(H, W, 2, 10, 2, 10)
    binary[0, :] = 128
    write_mask(root / "masks" / "im00.png", binary)
    ids = np.zeros((H, W), np.uint16)
    ids[2:8, 2:8] = 300
    ids[10:20, 10:20] = 7
    write_mask(root / "masks" / "im01.png", ids)
    write_mask(root / "masks" / "im02_0.png", box_mask(H, W, 0, 5, 0, 5))
    write_mask(root / "masks" / "im02_1.png", box_mask(H, W, 3, 9, 3, 9))
    (root / "masks" / "im02.png").unlink()
    ds = get_dataset("ImagesDir", root)
    first = ds.get_sample(0)
    assert len(first) == 1 and (first.gt_mask[0] == -1).all() and (first.gt_mask == 1).sum() == 64
    second = ds.get_sample(1)
    assert sorted(info["mapping"] for info in second.objects.values()) == [(0, 7), (0, 300)]
    third = ds.get_sample(2)
    assert third.encoded_masks.shape[2] == 2 and len(third) == 2


def test_images_dir_seeded_split(tmp_path):
    root = _images_dir(tmp_path)
    train = ImagesDirDataset(root, split="train", val_fraction=0.3, split_seed=4)
    val = ImagesDirDataset(root, split="val", val_fraction=0.3, split_seed=4)
    names_train = {train.get_sample_name(i) for i in range(len(train))}
    names_val = {val.get_sample_name(i) for i in range(len(val))}
    assert len(names_val) == 3 and len(names_train) == 7 and not names_train & names_val
    again = ImagesDirDataset(root, split="val", val_fraction=0.3, split_seed=4)
    assert names_val == {again.get_sample_name(i) for i in range(len(again))}
    other = ImagesDirDataset(root, split="val", val_fraction=0.3, split_seed=5)
    assert names_val != {other.get_sample_name(i) for i in range(len(other))}
    with pytest.raises(ValueError, match="split"):
        ImagesDirDataset(root, split="test")


def test_images_dir_training_item(tmp_path):
    ds = ImagesDirDataset(_images_dir(tmp_path, n=2), augmentator=ritm_val_augmentator((32, 48)), seed=0)
    item = ds[0]
    assert item["images"].shape == (3, 32, 48) and (item["instances"] == 1).sum() == 64


def test_converted_inputs_are_noted_on_the_sample(tmp_path):
    """A 16-bit mask and an RGBA image are read, and each conversion is named on the sample."""
    import cv2
    from isegm.data.datasets import get_dataset

    (tmp_path / "data_GT").mkdir()
    (tmp_path / "boundary_GT").mkdir()
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 3] = 200
    cv2.imwrite(str(tmp_path / "data_GT" / "a.png"), rgba)
    mask = np.zeros((20, 30), np.uint16)
    mask[5:15, 5:25] = 65535
    cv2.imwrite(str(tmp_path / "boundary_GT" / "a.png"), mask)
    sample = get_dataset("GrabCut", tmp_path).get_sample(0)
    assert sample.gt_mask.sum() == 200
    notes = " | ".join(sample.notes)
    assert "alpha channel dropped" in notes and "uint16 mask" in notes and "a.png" in notes
