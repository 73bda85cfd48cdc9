"""SBD, the Semantic Boundaries Dataset (Hariharan et al. 2011), as used by RITM.

Layout (the ``dataset/`` folder of the SBD release; ``<path>`` may be that folder or its parent)::

    <path>/img/<name>.jpg
    <path>/inst/<name>.mat      MATLAB struct GTinst with field Segmentation: (H, W) instance ids
    <path>/train.txt, val.txt   one <name> per line

:class:`SBDDataset` yields all instances of an image (training); :class:`SBDEvaluationDataset`
yields one sample per (image, instance) (RITM's SBD benchmark, 6671 val instances).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import loadmat

from ..base import ISDataset
from ..sample import DSample, labels_with_sizes
from .io import check_same_size, read_image, require_dir, require_file

__all__ = ["SBDDataset", "SBDEvaluationDataset", "read_sbd_instances"]

SBD_LAYOUT = ("  <path>/img/<name>.jpg\n"
              "  <path>/inst/<name>.mat     (GTinst.Segmentation: instance ids)\n"
              "  <path>/train.txt, <path>/val.txt   (one <name> per line)\n"
              "  (<path> may also be the folder that contains dataset/)")


def read_sbd_instances(path: Path) -> np.ndarray:
    """(H, W) int32 instance ids from an SBD ``inst/*.mat`` file (``GTinst.Segmentation``).

    Raises:
        FileNotFoundError: missing file.  ValueError: not a MATLAB file with GTinst.Segmentation.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SBD instance file not found: {path}")
    try:
        gt_inst = loadmat(str(path))["GTinst"]
        segmentation = gt_inst["Segmentation"][0, 0] if gt_inst.dtype.names else gt_inst[0][0][0]
    except (KeyError, IndexError, ValueError, TypeError, OSError) as exc:
        raise ValueError(f"cannot read {path}: expected a MATLAB file with struct GTinst.Segmentation "
                         f"({type(exc).__name__}: {exc})") from exc
    segmentation = np.asarray(segmentation)
    if segmentation.ndim != 2:
        raise ValueError(f"{path}: GTinst.Segmentation must be 2-D, got shape {segmentation.shape}")
    return segmentation.astype(np.int32)


def _bbox_area(mask: np.ndarray) -> int:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1))


class _SBDBase(ISDataset):
    def __init__(self, dataset_path, split: str, **kwargs):
        super().__init__(**kwargs)
        if split not in ("train", "val"):
            raise ValueError(f"SBD split must be 'train' or 'val', got {split!r}")
        path = Path(dataset_path)
        require_dir(path, SBD_LAYOUT, "SBD folder")
        if not (path / "img").is_dir() and (path / "dataset" / "img").is_dir():
            path = path / "dataset"
        self.dataset_path = path
        self.dataset_split = split
        self._images_path = require_dir(path / "img", SBD_LAYOUT, "SBD images folder")
        self._insts_path = require_dir(path / "inst", SBD_LAYOUT, "SBD instances folder")
        list_path = require_file(path / f"{split}.txt", SBD_LAYOUT, f"SBD {split} list")
        self._names = [line.strip() for line in list_path.read_text().splitlines() if line.strip()]

    def _read(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        image_path = self._images_path / f"{name}.jpg"
        inst_path = self._insts_path / f"{name}.mat"
        image = read_image(image_path)
        instances = read_sbd_instances(inst_path)
        check_same_size(image, instances, image_path, inst_path)
        return image, instances


class SBDDataset(_SBDBase):
    """SBD with all instances of each image (RITM's training set ``SBD_train``).

    Args:
        dataset_path: SBD ``dataset/`` folder (or its parent).
        split: 'train' or 'val'.
        buggy_mask_thresh: instances whose area / bounding-box area is below this are erased
            (RITM: broken SBD annotations); 0 disables.
        **kwargs: :class:`ISDataset` options.

    Raises:
        FileNotFoundError: missing folder/list (names path and layout).  ValueError: bad split.
    """

    def __init__(self, dataset_path, split: str = "train", buggy_mask_thresh: float = 0.08, **kwargs):
        super().__init__(dataset_path, split, **kwargs)
        self.buggy_mask_thresh = buggy_mask_thresh
        self.dataset_samples = list(self._names)

    def get_sample_name(self, index: int) -> str:
        return self.dataset_samples[index]

    def get_sample(self, index: int) -> DSample:
        """All (non-buggy) instances of image ``index``, in layer 0.

        Images without (non-buggy) instances are returned without objects and recorded in ``skipped``.
        """
        name = self.dataset_samples[index]
        image, instances = self._read(name)
        instances = self.remove_buggy_masks(instances)
        objects_ids, _ = labels_with_sizes(instances)
        if not objects_ids:
            self._skip(name, "no (non-buggy) instance in the mask")
        return DSample(image, instances, objects_ids=objects_ids, sample_id=index, name=name)

    def remove_buggy_masks(self, instances: np.ndarray) -> np.ndarray:
        """Erase instances covering less than ``buggy_mask_thresh`` of their bounding box."""
        if self.buggy_mask_thresh <= 0:
            return instances
        for obj_id, area in zip(*labels_with_sizes(instances)):
            obj_mask = instances == obj_id
            if area / _bbox_area(obj_mask) < self.buggy_mask_thresh:
                instances[obj_mask] = 0
        return instances


class SBDEvaluationDataset(_SBDBase):
    """SBD benchmark: one sample per (image, instance) of the split (RITM's ``SBD``).

    The instance list is built in ``__init__`` by reading every ``.mat`` file of the split
    (about 1 s per 1000 files).

    Args:
        dataset_path: SBD ``dataset/`` folder (or its parent).
        split: 'val' (benchmark) or 'train'.
        **kwargs: :class:`ISDataset` options.
    """

    def __init__(self, dataset_path, split: str = "val", **kwargs):
        super().__init__(dataset_path, split, **kwargs)
        samples = []
        for name in self._names:
            inst_path = self._insts_path / f"{name}.mat"
            if not inst_path.is_file():
                self._skip(name, f"missing instance file {inst_path}")
                continue
            ids, _ = labels_with_sizes(read_sbd_instances(inst_path))
            if not ids:
                self._skip(name, f"no instance in {inst_path}")
            samples.extend((name, obj_id) for obj_id in ids)
        self.dataset_samples = samples

    def get_sample_name(self, index: int) -> str:
        name, obj_id = self.dataset_samples[index]
        return f"{name}_{obj_id}"

    def get_sample(self, index: int) -> DSample:
        """Image with the single instance of sample ``index`` as object 1 (others are background)."""
        name, obj_id = self.dataset_samples[index]
        image, instances = self._read(name)
        mask = (instances == obj_id).astype(np.int32)
        return DSample(image, mask, objects_ids=[1], sample_id=index, name=f"{name}_{obj_id}")
