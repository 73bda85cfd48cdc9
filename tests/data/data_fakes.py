"""Tiny generated images, masks and dataset folders for the isegm.data tests."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from isegm.data.base import ISDataset
from isegm.data.sample import DSample


def rgb_image(height: int = 40, width: int = 60, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 random RGB image."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_rgb(path: Path, image: np.ndarray) -> Path:
    """Write an RGB image with OpenCV (which stores BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def write_mask(path: Path, mask: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), mask)
    return path


def box_mask(height: int, width: int, y0: int, y1: int, x0: int, x1: int, value: int = 255,
             dtype=np.uint8) -> np.ndarray:
    mask = np.zeros((height, width), dtype)
    mask[y0:y1, x0:x1] = value
    return mask


def two_object_sample(height: int = 60, width: int = 80) -> DSample:
    """Sample with two objects (ids 1, 2) in one layer and an ignore strip (id 9) at the top."""
    masks = np.zeros((height, width), np.int32)
    masks[10:40, 10:40] = 1
    masks[20:50, 50:75] = 2
    masks[0:3, :] = 9
    return DSample(rgb_image(height, width), masks, objects_ids=[1, 2], ignore_ids=[9], sample_id=0, name="two")


class InMemoryDataset(ISDataset):
    """ISDataset over ready DSample factories (for testing the base class)."""

    def __init__(self, makers, **kwargs):
        super().__init__(**kwargs)
        self.dataset_samples = list(makers)
        self.calls: list[int] = []

    def get_sample(self, index: int) -> DSample:
        self.calls.append(index)
        return self.dataset_samples[index]()
