"""ISDataset: training items, retries, subsets and seeding."""
import pickle

import albumentations as A
import numpy as np
import pytest
import torch
from data_fakes import InMemoryDataset, rgb_image, two_object_sample

from isegm.data.base import ISDataset, split_indices
from isegm.data.points_sampler import MultiPointSampler
from isegm.data.sample import DSample
from isegm.data.transforms import ritm_train_augmentator


def _small_object_sample():
    masks = np.zeros((60, 80), np.int32)
    masks[5:8, 5:8] = 1          # 9 px in the top-left corner
    return DSample(rgb_image(60, 80), masks, objects_ids=[1])


def _empty_sample():
    return DSample(rgb_image(60, 80), np.zeros((60, 80), np.int32), objects_ids=[1])


def test_getitem_output_contract():
    ds = InMemoryDataset([two_object_sample] * 3, points_sampler=MultiPointSampler(5),
                         augmentator=ritm_train_augmentator((48, 64), seed=0), with_image_info=True, seed=0)
    item = ds[1]
    assert set(item) == {"images", "points", "instances", "image_info"}
    assert item["images"].shape == (3, 48, 64) and item["images"].dtype == torch.float32
    assert 0.0 <= item["images"].min() and item["images"].max() <= 1.0
    assert item["points"].shape == (10, 3) and item["points"].dtype == torch.float32
    assert item["instances"].shape == (1, 48, 64) and item["instances"].dtype == torch.float32
    assert set(torch.unique(item["instances"]).tolist()) <= {-1.0, 0.0, 1.0}
    loader = torch.utils.data.DataLoader(ds, batch_size=3)
    batch = next(iter(loader))
    assert batch["images"].shape == (3, 3, 48, 64) and batch["points"].shape == (3, 10, 3)


def test_no_augmentation_image_is_scaled_copy():
    sample = two_object_sample()
    ds = InMemoryDataset([lambda: sample], seed=0)
    item = ds[0]
    assert torch.allclose(item["images"], torch.from_numpy(sample.image).permute(2, 0, 1).float() / 255)


def test_retries_until_an_object_survives():
    # crops of 20x20 from 60x80 rarely contain the tiny object: augmentation is retried
    aug = A.Compose([A.RandomCrop(20, 20)], seed=0)
    ds = InMemoryDataset([_small_object_sample], augmentator=aug, points_sampler=MultiPointSampler(3), seed=1)
    for i in range(5):
        item = ds[0]
        assert (item["instances"] == 1).any()
        assert item["points"][0, 0] >= 0


def test_keep_background_prob_allows_empty_targets():
    aug = A.Compose([A.Crop(x_min=40, y_min=30, x_max=80, y_max=60)])
    ds = InMemoryDataset([_small_object_sample], augmentator=aug, points_sampler=MultiPointSampler(3),
                         keep_background_prob=-1, seed=0)
    item = ds[0]
    assert not (item["instances"] == 1).any() and (item["points"][:3] == -1).all()


def test_min_object_area_and_empty_samples_are_replaced():
    ds = InMemoryDataset([_empty_sample, two_object_sample], points_sampler=MultiPointSampler(3),
                         min_object_area=800, seed=0)
    for _ in range(5):
        item = ds[0]
        assert (item["instances"] == 1).sum() == 900     # only the 900-px object passes min_object_area
    assert 1 in ds.calls


def test_epoch_len_and_random_indices():
    ds = InMemoryDataset([two_object_sample] * 4, epoch_len=10, seed=0)
    assert len(ds) == 10 and ds.get_samples_number() == 4
    for i in range(10):
        ds[i]
    assert set(ds.calls) <= {0, 1, 2, 3} and len(set(ds.calls)) > 1
    with pytest.raises(IndexError):
        InMemoryDataset([two_object_sample], seed=0)[5]


def test_seeded_items_are_reproducible():
    def make():
        return InMemoryDataset([two_object_sample] * 2, augmentator=ritm_train_augmentator((32, 48)),
                               points_sampler=MultiPointSampler(4), seed=123)
    a, b = make(), make()
    for i in range(3):
        ia, ib = a[i % 2], b[i % 2]
        assert all(torch.equal(ia[k], ib[k]) for k in ("images", "points", "instances"))


def test_dataloader_workers_get_different_streams():
    ds = InMemoryDataset([two_object_sample] * 4, points_sampler=MultiPointSampler(6), seed=0)
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    points = [batch["points"] for batch in loader]
    # the same sample in two workers gets different clicks
    assert not torch.equal(points[0], points[1])


def test_subset_and_split():
    ds = InMemoryDataset([two_object_sample] * 10, seed=0)
    sub = ds.subset([3, 1], epoch_len=7, min_object_area=5)
    assert sub.get_samples_number() == 2 and len(sub) == 7 and sub.min_object_area == 5
    assert ds.min_object_area == 0 and ds.get_samples_number() == 10
    assert sub.points_sampler is not ds.points_sampler
    with pytest.raises(IndexError):
        ds.subset([10])
    with pytest.raises(TypeError, match="unknown options"):
        ds.subset([0], colour="red")
    train, val = ds.split(0.3, seed=1, augmentator=None)
    assert train.get_samples_number() == 7 and val.get_samples_number() == 3
    assert split_indices(10, 0.3, seed=1) == split_indices(10, 0.3, seed=1)
    tr, va = split_indices(10, 0.3, seed=1)
    assert sorted(tr + va) == list(range(10)) and not set(tr) & set(va)
    assert split_indices(10, 0.3, seed=2) != (tr, va)
    with pytest.raises(ValueError):
        ds.split(1.5)


def test_samples_scores(tmp_path):
    path = tmp_path / "weights.pkl"
    with open(path, "wb") as f:
        pickle.dump([(0, None, 1.0), (1, None, 0.0)], f)     # sample 0 is "solved": weight 0
    ds = InMemoryDataset([two_object_sample, two_object_sample], samples_scores_path=path, seed=0)
    for i in range(5):
        ds[i % 2]
    assert set(ds.calls) == {1}
    with pytest.raises(FileNotFoundError, match="samples scores"):
        InMemoryDataset([], samples_scores_path=tmp_path / "missing.pkl")


def test_iter_samples_skips_empty():
    ds = InMemoryDataset([two_object_sample, _empty_sample, two_object_sample])
    assert [i for i, _ in ds.iter_samples()] == [0, 2]


def test_get_sample_is_abstract():
    with pytest.raises(NotImplementedError):
        ISDataset().get_sample(0)
