"""GrabCut (Rother et al. 2004) and Berkeley (McGuinness & O'Connor 2010) evaluation sets.

Both are single-object sets: each sample is one image with one object mask.  Mask values
follow the GrabCut convention used by RITM: 255 (> 128) object, 128 unknown band (ignored,
-1 in ``gt_mask``), anything else background.  3-channel masks use their first channel
(BGR order, as RITM reads them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import ISDataset
from ..sample import DSample
from .io import check_same_size, list_images, note_mask_conversion, read_image, read_mask, require_dir

__all__ = ["GrabCutDataset", "BerkeleyDataset", "PairedSample", "grabcut_mask_to_labels"]

IGNORE_VALUE = 128


@dataclass(frozen=True)
class PairedSample:
    """One image/mask file pair; ``name`` is the sample name (mask stem)."""

    name: str
    image: Path
    mask: Path


def grabcut_mask_to_labels(mask: np.ndarray) -> np.ndarray:
    """(H, W[, C]) uint8 GrabCut-style mask -> (H, W) int32: 1 (> 128), -1 (== 128), 0 otherwise."""
    if mask.ndim == 3:
        mask = mask[:, :, 0]
    labels = np.zeros(mask.shape, np.int32)
    labels[mask == IGNORE_VALUE] = -1
    labels[mask > IGNORE_VALUE] = 1
    return labels


class _PairedFolderDataset(ISDataset):
    """Images in one folder, single-object masks in another, matched by file stem."""

    layout = ""
    images_dir_name = "images"
    masks_dir_name = "masks"

    def __init__(self, dataset_path, images_dir_name: str | None = None, masks_dir_name: str | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.dataset_path = Path(dataset_path)
        layout = self.layout
        require_dir(self.dataset_path, layout, f"{type(self).__name__} folder")
        self._images_path = require_dir(self.dataset_path / (images_dir_name or self.images_dir_name),
                                        layout, "images folder")
        self._masks_path = require_dir(self.dataset_path / (masks_dir_name or self.masks_dir_name),
                                       layout, "masks folder")
        self.dataset_samples = self._pair(list_images(self._images_path), list_images(self._masks_path))
        if not self.dataset_samples:
            raise FileNotFoundError(f"no image/mask pairs found under {self.dataset_path}\n"
                                    f"Expected layout:\n{layout}")

    def _image_stem_for_mask(self, mask_stem: str, images: dict[str, Path]) -> str | None:
        return mask_stem if mask_stem in images else None

    def _pair(self, image_files: list[Path], mask_files: list[Path]) -> list[PairedSample]:
        images: dict[str, Path] = {}
        for path in image_files:
            if path.stem in images:
                self._skip(path.name, f"another image has the same stem ({images[path.stem].name})")
                continue
            images[path.stem] = path
        used = set()
        samples = []
        for mask_path in sorted(mask_files, key=lambda p: p.stem):
            stem = self._image_stem_for_mask(mask_path.stem, images)
            if stem is None:
                self._skip(mask_path.stem, f"no image for mask {mask_path} in {self._images_path}")
                continue
            used.add(stem)
            samples.append(PairedSample(mask_path.stem, images[stem], mask_path))
        for stem in sorted(set(images) - used):
            self._skip(stem, f"no mask for image {images[stem]} in {self._masks_path}")
        return samples

    def get_sample_name(self, index: int) -> str:
        return self.dataset_samples[index].name

    def _decode_mask(self, mask: np.ndarray) -> np.ndarray:
        return grabcut_mask_to_labels(mask)

    def get_sample(self, index: int) -> DSample:
        """Read sample ``index``: (H, W, 3) uint8 RGB image, one object (id 1), ignore id -1.

        A mask without object pixels gives an all-zero ``gt_mask`` and is recorded in ``skipped``.

        Raises:
            ValueError: unreadable files, or image and mask of different sizes (names both).
        """
        record = self.dataset_samples[index]
        notes: list = []
        image = read_image(record.image, notes)
        mask = read_mask(record.mask)
        check_same_size(image, mask, record.image, record.mask)
        note_mask_conversion(mask, record.mask, notes, "binary (first channel, > 128 object, 128 ignored)")
        labels = self._decode_mask(mask)
        if not (labels == 1).any():
            self._skip(record.name, f"empty object mask {record.mask}")
        sample = DSample(image, labels, objects_ids=[1], ignore_ids=[-1], sample_id=index, name=record.name)
        sample.notes = notes
        return sample


class GrabCutDataset(_PairedFolderDataset):
    """GrabCut: ``data_GT/<name>.{jpg,bmp,JPG}`` images, ``boundary_GT/<name>.png`` masks (50 samples).

    Args:
        dataset_path: the GrabCut folder.
        images_dir_name, masks_dir_name: sub-folder names.
        **kwargs: :class:`ISDataset` options.

    Raises:
        FileNotFoundError: a folder is missing or holds no image/mask pair (names path and layout).
    """

    layout = ("  <path>/data_GT/<name>.{jpg,bmp,JPG}   images\n"
              "  <path>/boundary_GT/<name>.png        masks: 0 background, 255 object, 128 ignored band")
    images_dir_name = "data_GT"
    masks_dir_name = "boundary_GT"


class BerkeleyDataset(_PairedFolderDataset):
    """Berkeley: ``images/<id>.jpg|png`` and ``masks/<id>.png`` (+ ``<id>a.png``, ``<id>b.png``), 100 samples.

    Every mask is one sample; a mask ``<id><letter>.png`` without an image of that stem uses
    image ``<id>``.  Masks are 3-channel, > 128 = object.

    Raises:
        FileNotFoundError: a folder is missing or holds no image/mask pair (names path and layout).
    """

    layout = ("  <path>/images/<id>.{jpg,png}                  images\n"
              "  <path>/masks/<id>.png [<id>a.png, <id>b.png]  masks (> 128 = object), one sample each")
    images_dir_name = "images"
    masks_dir_name = "masks"
    _suffix = re.compile(r"^(?P<stem>.+?)[a-z]$")

    def _image_stem_for_mask(self, mask_stem: str, images: dict[str, Path]) -> str | None:
        if mask_stem in images:
            return mask_stem
        match = self._suffix.match(mask_stem)
        if match and match.group("stem") in images:
            return match.group("stem")
        return None
