"""RITM's prepared COCO+LVIS training set (``cocolvis`` layout; Sofiiuk et al., 2021, sec. 4).

RITM trains its released models on LVIS v1 images whose annotations were merged with COCO's
(COCO masks added where LVIS lacks them, nested objects kept as a hierarchy, COCO stuff regions
kept as extra objects). It ships the merged result in its own layout, which its recipes read with
``CocoLvisDataset(cfg.LVIS_v1_PATH, ...)``; this loader reads the same files::

    <root>/<split>/hannotation.pickle        {image_id: {'hierarchy': {...}, 'num_instance_masks': n}}
    <root>/<split>/images/<image_id>.jpg
    <root>/<split>/masks/<image_id>.pickle    (list of PNG-encoded mask layers, [(layer, id), ...])

Objects ``0..num_instance_masks-1`` are instances (with parent/children links); the rest are stuff
regions, used as extra objects with probability ``stuff_prob`` per sample and erased from the masks
otherwise, as RITM does. The pickles are read with a restricted unpickler that admits only plain
containers and numpy arrays, so a hostile file cannot run code.
"""
from __future__ import annotations

import pickle
from copy import deepcopy
from pathlib import Path

import cv2
import numpy as np

from ...io import load_numpy_pickle
from ..base import ISDataset
from ..sample import DSample
from .io import read_image, require_dir, require_file

__all__ = ["CocoLvisDataset", "COCO_LVIS_LAYOUT"]

COCO_LVIS_LAYOUT = ("  <root>/<split>/hannotation.pickle, <root>/<split>/images/<id>.jpg,\n"
                    "  <root>/<split>/masks/<id>.pickle  (RITM's prepared COCO+LVIS, split = train | val)")


def _load_pickle(path: Path):
    try:
        return load_numpy_pickle(path.read_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read {path}: not a RITM COCO+LVIS pickle ({exc})") from None


class CocoLvisDataset(ISDataset):
    """RITM's prepared COCO+LVIS (see the module docstring for the layout).

    Args:
        dataset_path: the root folder (RITM's ``LVIS_v1_PATH``).
        split: ``"train"`` or ``"val"``.
        stuff_prob: probability that a sample's stuff regions are used as objects (RITM: 0.3 for
            training, 0 for validation); drawn from this dataset's generator.
        anno_file: the annotation pickle's name in the split folder.
        **kwargs: :class:`~isegm.data.base.ISDataset` arguments.

    Raises:
        FileNotFoundError: a folder or the annotation file is missing (the message shows the layout).
        ValueError: ``stuff_prob`` outside [0, 1], or an annotation file that is not RITM's format.
    """

    def __init__(self, dataset_path, split: str = "train", stuff_prob: float = 0.0,
                 anno_file: str = "hannotation.pickle", **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= stuff_prob <= 1.0:
            raise ValueError(f"stuff_prob must be in [0, 1], got {stuff_prob}")
        self.stuff_prob = float(stuff_prob)
        split_path = require_dir(Path(dataset_path) / split, COCO_LVIS_LAYOUT, "COCO+LVIS split folder")
        self._images_path = require_dir(split_path / "images", COCO_LVIS_LAYOUT, "COCO+LVIS images folder")
        self._masks_path = require_dir(split_path / "masks", COCO_LVIS_LAYOUT, "COCO+LVIS masks folder")
        annotations = _load_pickle(require_file(split_path / anno_file, COCO_LVIS_LAYOUT, "COCO+LVIS annotation file"))
        if not isinstance(annotations, dict):
            raise ValueError(f"cannot read {split_path / anno_file}: expected a dict image_id -> annotation")
        self.dataset_samples = sorted(annotations.items())

    def get_sample_name(self, index: int) -> str:
        return str(self.dataset_samples[index][0])

    def get_sample(self, index: int) -> DSample:
        image_id, record = self.dataset_samples[index]
        image = read_image(self._images_path / f"{image_id}.jpg")
        masks_file = self._masks_path / f"{image_id}.pickle"
        encoded_layers, objs_mapping = _load_pickle(masks_file)
        layers = [cv2.imdecode(np.asarray(x, dtype=np.uint8), cv2.IMREAD_UNCHANGED) for x in encoded_layers]
        if any(layer is None for layer in layers):
            raise ValueError(f"cannot read {masks_file}: a mask layer is not a PNG")
        layers = np.stack(layers, axis=2).astype(np.int32)

        objects = deepcopy(record["hierarchy"])
        for inst_id, info in list(objects.items()):
            if info is None:
                info = {"children": [], "parent": None, "node_level": 0}
                objects[inst_id] = info
            info["mapping"] = tuple(objs_mapping[inst_id])

        num_instances = int(record["num_instance_masks"])
        use_stuff = self.stuff_prob > 0 and self.rng.random() < self.stuff_prob
        for inst_id in range(num_instances, len(objs_mapping)):
            layer, mask_id = objs_mapping[inst_id]
            if use_stuff:
                objects[inst_id] = {"mapping": (int(layer), int(mask_id)), "parent": None, "children": []}
            else:
                layers[:, :, layer][layers[:, :, layer] == mask_id] = 0
        return DSample(image, layers, objects=objects, sample_id=index, name=str(image_id))
