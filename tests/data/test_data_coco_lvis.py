"""RITM's prepared COCO+LVIS layout (isegm.data.datasets.coco_lvis), on a generated fixture."""
import pickle

import cv2
import numpy as np
import pytest

from isegm.data.datasets.coco_lvis import CocoLvisDataset


def _write_split(root, split="train"):
    folder = root / split
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    image = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "images" / "17.jpg"), image)
    layer0 = np.zeros((40, 50), np.uint8)
    layer0[5:30, 5:30] = 1          # instance 0 (parent)
    layer0[35:40, 0:50] = 3         # stuff region (object 2)
    layer1 = np.zeros((40, 50), np.uint8)
    layer1[10:20, 10:20] = 2        # instance 1, child of 0, on its own layer
    encoded = [cv2.imencode(".png", layer)[1] for layer in (layer0, layer1)]
    mapping = [(0, 1), (1, 2), (0, 3)]
    with open(folder / "masks" / "17.pickle", "wb") as f:
        pickle.dump((encoded, mapping), f)
    hierarchy = {0: {"parent": None, "children": [1], "node_level": 0},
                 1: {"parent": 0, "children": [], "node_level": 1}}
    with open(folder / "hannotation.pickle", "wb") as f:
        pickle.dump({17: {"hierarchy": hierarchy, "num_instance_masks": 2}}, f)
    return folder


def test_reads_hierarchy_and_drops_stuff_without_stuff_prob(tmp_path):
    _write_split(tmp_path)
    sample = CocoLvisDataset(tmp_path, split="train").get_sample(0)
    assert sorted(sample.objects_ids) == [0, 1]
    assert sample.objects[1]["parent"] == 0 and sample.objects[0]["children"] == [1]
    assert sample.get_object_mask(1).sum() == 100
    assert not sample.encoded_masks[35:, :, 0].any()  # stuff erased


def test_stuff_regions_become_objects_with_stuff_prob_one(tmp_path):
    _write_split(tmp_path)
    sample = CocoLvisDataset(tmp_path, split="train", stuff_prob=1.0).get_sample(0)
    assert sorted(sample.objects_ids) == [0, 1, 2]
    assert sample.get_object_mask(2).sum() == 5 * 50


def test_refuses_pickles_that_would_run_code(tmp_path):
    folder = _write_split(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "hannotation.pickle", "wb") as f:
        pickle.dump({17: Evil()}, f)
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        CocoLvisDataset(tmp_path, split="train")


def test_missing_split_names_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="hannotation.pickle"):
        CocoLvisDataset(tmp_path, split="val")


def test_ritm_cocolvis_recipe_builds_its_datasets_from_the_layout(tmp_path):
    import importlib

    from isegm.engine.recipe import build_datasets

    _write_split(tmp_path, "train")
    _write_split(tmp_path, "val")
    recipe = importlib.import_module("models.iter_mask.hrnet18s_cocolvis_itermask_3p").RECIPE
    trainset, valset = build_datasets(recipe, {"LVIS_v1_PATH": str(tmp_path)}, seed=0)
    assert isinstance(trainset, CocoLvisDataset) and trainset.stuff_prob == 0.30 and valset.stuff_prob == 0.0
    item = trainset[0]
    assert item["images"].shape[-2:] == tuple(recipe.crop_size)


def test_recipe_stuff_prob_field_reaches_the_cocolvis_loader(tmp_path):
    import importlib

    from isegm.engine.recipe import build_datasets, replace

    _write_split(tmp_path, "train")
    _write_split(tmp_path, "val")
    recipe = importlib.import_module("models.iter_mask.hrnet18s_cocolvis_itermask_3p").RECIPE
    recipe = replace(recipe, train_dataset_kwargs={}, stuff_prob=0.5)
    trainset, valset = build_datasets(recipe, {"LVIS_v1_PATH": str(tmp_path)}, seed=0)
    assert trainset.stuff_prob == 0.5 and valset.stuff_prob == 0.0
