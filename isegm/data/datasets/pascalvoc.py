"""PASCAL VOC 2012 instance masks (Everingham et al. 2010), RITM's ``PascalVocDataset``.

Layout (``<path>`` = ``VOC2012``; a parent holding ``VOC2012/`` or ``VOCdevkit/VOC2012/`` works too)::

    <path>/JPEGImages/<name>.jpg
    <path>/SegmentationObject/<name>.png     instance index per pixel; 0 background, 255 border (ignored)
    <path>/ImageSets/Segmentation/{train,val,trainval}.txt
    <path>/ImageSets/Segmentation/test.pickle   (RITM's benchmark list, split='test' only)

VOC masks are palette PNGs.  OpenCV expands palettes to colours, so colours are mapped back
to indices through the standard VOC colour map; single-channel index PNGs are read as is.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np

from ..base import ISDataset
from ..sample import DSample
from .io import check_same_size, read_image, read_mask, require_dir, require_file

__all__ = ["PascalVocDataset", "voc_colormap", "decode_voc_mask"]

VOC_IGNORE_INDEX = 255
VOC_LAYOUT = ("  <path>/JPEGImages/<name>.jpg\n"
              "  <path>/SegmentationObject/<name>.png   (instance indices, 255 = ignored border)\n"
              "  <path>/ImageSets/Segmentation/<split>.txt  (split='test': RITM's test.pickle or test.txt)\n"
              "  (<path> = VOC2012, or a folder holding VOC2012/ or VOCdevkit/VOC2012/)")


def voc_colormap(num: int = 256) -> np.ndarray:
    """(num, 3) uint8 RGB colours of the VOC palette (index bits spread over the colour bits)."""
    index = np.arange(num)
    cmap = np.zeros((num, 3), np.int64)
    for shift in range(8):
        for channel in range(3):
            cmap[:, channel] |= ((index >> (3 * shift + channel)) & 1) << (7 - shift)
    return cmap.astype(np.uint8)


_VOC_KEYS = (voc_colormap().astype(np.int64) @ np.array([65536, 256, 1]))
_VOC_ORDER = np.argsort(_VOC_KEYS)
_VOC_GREY = cv2.cvtColor(voc_colormap()[np.newaxis], cv2.COLOR_RGB2GRAY)[0].astype(np.int32)


def decode_voc_mask(mask: np.ndarray, path: Path | str = "<mask>") -> np.ndarray:
    """VOC mask as read by OpenCV -> (H, W) int32 palette indices.

    Args:
        mask: (H, W) indices, or (H, W, 3[+1]) BGR colours of the VOC palette.
        path: file name for error messages.

    Raises:
        ValueError: a colour is not in the VOC palette.
    """
    if mask.ndim == 2:
        return mask.astype(np.int32)
    bgr = mask[:, :, :3].astype(np.int64)
    keys = bgr[:, :, 2] * 65536 + bgr[:, :, 1] * 256 + bgr[:, :, 0]
    pos = np.searchsorted(_VOC_KEYS[_VOC_ORDER], keys)
    pos = np.clip(pos, 0, len(_VOC_ORDER) - 1)
    indices = _VOC_ORDER[pos]
    bad = _VOC_KEYS[indices] != keys
    if bad.any():
        y, x = np.argwhere(bad)[0]
        raise ValueError(f"{path}: colour (R,G,B)={tuple(mask[y, x, 2::-1].tolist())} at (y={y}, x={x}) is "
                         f"not in the VOC palette; expected a VOC SegmentationObject PNG")
    return indices.astype(np.int32)


class PascalVocDataset(ISDataset):
    """PASCAL VOC instance segmentation.

    Args:
        dataset_path: VOC2012 folder (or a parent with VOC2012/ or VOCdevkit/VOC2012/).
        split: name of a list in ImageSets/Segmentation ('train', 'val', 'trainval', 'test').
            'test' with RITM's ``test.pickle`` (names, instance grey levels) gives RITM's PASCAL VOC
            benchmark samples (one object each); that pickle must come from a trusted source.
        one_object_per_sample: one sample per (image, instance) with the other instances as
            background (evaluation); the instance list is built by reading the masks in ``__init__``.
        **kwargs: :class:`ISDataset` options.

    Raises:
        FileNotFoundError: missing folder or list (names path and layout).
    """

    def __init__(self, dataset_path, split: str = "train", one_object_per_sample: bool = False, **kwargs):
        super().__init__(**kwargs)
        path = Path(dataset_path)
        require_dir(path, VOC_LAYOUT, "PASCAL VOC folder")
        for candidate in (path, path / "VOC2012", path / "VOCdevkit" / "VOC2012"):
            if (candidate / "JPEGImages").is_dir():
                path = candidate
                break
        self.dataset_path = path
        self.dataset_split = split
        self.one_object_per_sample = one_object_per_sample
        self._images_path = require_dir(path / "JPEGImages", VOC_LAYOUT, "VOC images folder")
        self._insts_path = require_dir(path / "SegmentationObject", VOC_LAYOUT, "VOC instance masks folder")
        self._grey_ids = False
        ritm_test = path / "ImageSets" / "Segmentation" / "test.pickle"
        if split == "test" and ritm_test.is_file():
            with open(ritm_test, "rb") as f:
                names, grey_ids = pickle.load(f)  # noqa: S301 - RITM's format, trusted files only
            self._grey_ids = True
            self.one_object_per_sample = True
            self.dataset_samples = [(str(n), int(g)) for n, g in zip(names, grey_ids)]
            return
        list_path = require_file(path / "ImageSets" / "Segmentation" / f"{split}.txt", VOC_LAYOUT,
                                 f"VOC {split} list")
        names = [line.strip() for line in list_path.read_text().splitlines() if line.strip()]
        if one_object_per_sample:
            samples = []
            for name in names:
                ids = self._object_ids(self._read_instances(name))
                if not ids:
                    self._skip(name, "no instance in the mask")
                samples.extend((name, obj_id) for obj_id in ids)
            self.dataset_samples = samples
        else:
            self.dataset_samples = [(name, None) for name in names]

    @staticmethod
    def _object_ids(instances: np.ndarray) -> list[int]:
        ids = np.unique(instances)
        return [int(x) for x in ids if x != 0 and x != VOC_IGNORE_INDEX]

    def _read_instances(self, name: str) -> np.ndarray:
        mask_path = self._insts_path / f"{name}.png"
        return decode_voc_mask(read_mask(mask_path), mask_path)

    def get_sample_name(self, index: int) -> str:
        name, obj_id = self.dataset_samples[index]
        return name if obj_id is None else f"{name}_{obj_id}"

    def get_sample(self, index: int) -> DSample:
        """Image ``index`` with its instances (or, per-object, the one instance as id 1); 255 = ignore.

        Raises:
            ValueError: unreadable files / size mismatch.  Images without instances are recorded in ``skipped``.
        """
        name, obj_id = self.dataset_samples[index]
        image_path = self._images_path / f"{name}.jpg"
        mask_path = self._insts_path / f"{name}.png"
        image = read_image(image_path)
        instances = self._read_instances(name)
        check_same_size(image, instances, image_path, mask_path)
        sample_name = self.get_sample_name(index)
        if obj_id is not None:
            mask = np.zeros_like(instances)
            mask[instances == VOC_IGNORE_INDEX] = VOC_IGNORE_INDEX
            # RITM's test.pickle names an instance by the grey level of its palette colour
            selected = (_VOC_GREY[instances] if self._grey_ids else instances) == obj_id
            mask[selected & (instances != VOC_IGNORE_INDEX)] = 1
            if not (mask == 1).any():
                self._skip(sample_name, f"instance {obj_id} not found in {mask_path}")
            return DSample(image, mask, objects_ids=[1], ignore_ids=[VOC_IGNORE_INDEX], sample_id=index,
                           name=sample_name)
        objects_ids = self._object_ids(instances)
        if not objects_ids:
            self._skip(name, f"no instance in {mask_path}")
        return DSample(image, instances, objects_ids=objects_ids, ignore_ids=[VOC_IGNORE_INDEX],
                       sample_id=index, name=sample_name)
