"""COCO-format JSON annotations (COCO, LVIS, or an annotation tool's export) via pycocotools.

Every annotation with a segmentation (polygons, RLE or uncompressed RLE) becomes one object
of its image.  Overlapping objects go to different mask layers (first-fit), so no pixel of
any object is lost.  Crowd annotations are skipped by default (RITM's CocoDataset), or can
become ignore regions or objects.

Layout (either form)::

    <annotation>.json + <images_dir>/<file_name>          (pass the .json as dataset_path)
    <path>/annotations.json | _annotations.coco.json | instances*.json | annotations/<one>.json
    <path>/images/<file_name>  (or the files next to the json)

Images without ``file_name`` (LVIS v1) are looked up by the last part of ``coco_url``.
"""
from __future__ import annotations

import json
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils

from ..base import ISDataset
from ..sample import DSample
from .io import read_image, require_dir, require_file

__all__ = ["CocoJsonDataset", "LvisDataset", "annotation_to_mask"]

COCO_LAYOUT = ("  <file>.json with 'images' (id, file_name or coco_url, height, width), 'annotations'\n"
               "  (image_id, segmentation: polygons or RLE, iscrowd), 'categories' (id, name);\n"
               "  images in <images_dir>/<file_name>; default images_dir: <json folder>/images or the\n"
               "  json folder.  A folder may be given instead of the json: it must hold annotations.json,\n"
               "  _annotations.coco.json, instances*.json, or exactly one json in it or in annotations/")
_DEFAULT_JSON_NAMES = ("annotations.json", "_annotations.coco.json", "instances.json")


def annotation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of a COCO segmentation (polygon list, RLE or uncompressed RLE).

    Raises:
        ValueError: unsupported segmentation format.
    """
    if isinstance(segmentation, list):
        polygons = [np.asarray(p, dtype=np.float64).ravel().tolist() for p in segmentation]
        polygons = [p for p in polygons if len(p) >= 6]
        if not polygons:
            return np.zeros((height, width), bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and "counts" in segmentation:
        if isinstance(segmentation["counts"], list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            rle = dict(segmentation)
            if list(rle.get("size", [height, width])) != [height, width]:
                raise ValueError(f"RLE size {rle.get('size')} differs from the image size {[height, width]}")
    else:
        raise ValueError(f"unsupported segmentation of type {type(segmentation).__name__}: expected a list of "
                         f"polygons or an RLE dict with 'counts' and 'size'")
    with warnings.catch_warnings():
        # pycocotools' Cython decode trips NumPy 2's __array__(copy=...) deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


def _find_json(folder: Path) -> Path:
    for name in _DEFAULT_JSON_NAMES:
        if (folder / name).is_file():
            return folder / name
    for pattern_folder in (folder, folder / "annotations"):
        if not pattern_folder.is_dir():
            continue
        candidates = sorted(pattern_folder.glob("instances*.json")) or sorted(pattern_folder.glob("*.json"))
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise FileNotFoundError(f"several annotation files in {pattern_folder} "
                                    f"({', '.join(p.name for p in candidates[:5])}): pass annotation_file")
    raise FileNotFoundError(f"no annotation json found in {folder}\nExpected layout:\n{COCO_LAYOUT}")


class CocoJsonDataset(ISDataset):
    """Instances from a COCO-format json.

    Args:
        dataset_path: the json file, or a folder (see module docstring).
        annotation_file: json path (overrides the lookup in ``dataset_path``).
        images_dir: folder(s) holding the images; default ``<json folder>/images`` if it exists,
            else the json folder.
        category_ids / category_names: keep only these categories (names must exist in 'categories').
        one_object_per_sample: one sample per annotation with only that object (evaluation, like
            COCO MVal) instead of one sample per image with all its objects.
        crowd: 'skip', 'ignore' (ignore region) or 'object' for ``iscrowd=1`` annotations.
        **kwargs: :class:`ISDataset` options.

    Raises:
        FileNotFoundError: missing json / images folder (names path and layout).
        ValueError: malformed json, unknown category, bad ``crowd``.
    """

    def __init__(self, dataset_path, annotation_file: str | Path | None = None,
                 images_dir: str | Path | Sequence[str | Path] | None = None,
                 category_ids: Sequence[int] | None = None, category_names: Sequence[str] | None = None,
                 one_object_per_sample: bool = False, crowd: str = "skip", **kwargs):
        super().__init__(**kwargs)
        if crowd not in ("skip", "ignore", "object"):
            raise ValueError(f"crowd must be 'skip', 'ignore' or 'object', got {crowd!r}")
        path = Path(dataset_path)
        if annotation_file is not None:
            json_path = require_file(Path(annotation_file), COCO_LAYOUT, "annotation file")
        elif path.is_file():
            json_path = path
        else:
            require_dir(path, COCO_LAYOUT, "COCO-json dataset folder")
            json_path = _find_json(path)
        self.annotation_file = json_path
        self.crowd = crowd
        self.one_object_per_sample = one_object_per_sample

        if images_dir is None:
            default = json_path.parent / "images"
            if not default.is_dir() and json_path.parent.name == "annotations":
                default = json_path.parent.parent / "images"
            self._images_dirs = [default if default.is_dir() else json_path.parent]
        else:
            dirs = [images_dir] if isinstance(images_dir, (str, Path)) else list(images_dir)
            self._images_dirs = [Path(d) for d in dirs]
        existing = [d for d in self._images_dirs if d.is_dir()]
        if not existing:
            raise FileNotFoundError(f"images folder not found: {', '.join(map(str, self._images_dirs))}\n"
                                    f"Expected layout:\n{COCO_LAYOUT}")
        self._images_dirs = existing

        data = self._load_json(json_path)
        self.categories = {int(c["id"]): c.get("name", str(c["id"])) for c in data.get("categories", [])}
        keep_categories = self._category_filter(category_ids, category_names)

        per_image: dict[Any, list[dict]] = defaultdict(list)
        for ann in data["annotations"]:
            if "segmentation" not in ann or not ann["segmentation"]:
                continue
            if keep_categories is not None and ann.get("category_id") not in keep_categories:
                continue
            if ann.get("iscrowd", 0) and crowd == "skip":
                continue
            per_image[ann["image_id"]].append(ann)

        samples = []
        for info in sorted(data["images"], key=lambda x: x["id"]):
            anns = per_image.get(info["id"], [])
            objects = [a for a in anns if not (a.get("iscrowd", 0) and crowd == "ignore")]
            if not objects:
                self._skip(self._image_name(info), "no (selected) annotation")
                continue
            if one_object_per_sample:
                crowd_regions = tuple(a for a in anns if a not in objects)
                samples.extend((info, (a,), crowd_regions) for a in objects)
            else:
                samples.append((info, tuple(anns), ()))
        self.dataset_samples = samples

    # ------------------------------------------------------------------ loading helpers
    @staticmethod
    def _load_json(json_path: Path) -> dict:
        try:
            with open(json_path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"annotation file {json_path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise ValueError(f"annotation file {json_path} is not COCO-format: expected a JSON object with "
                             f"'images' and 'annotations'")
        return data

    def _category_filter(self, category_ids, category_names) -> set[int] | None:
        if category_ids is None and category_names is None:
            return None
        keep = {int(c) for c in (category_ids or [])}
        if category_names:
            by_name = {name: cid for cid, name in self.categories.items()}
            unknown = [n for n in category_names if n not in by_name]
            if unknown:
                raise ValueError(f"unknown category names {unknown} in {self.annotation_file}; known: "
                                 f"{sorted(by_name)[:20]}{' ...' if len(by_name) > 20 else ''}")
            keep |= {by_name[n] for n in category_names}
        return keep

    @staticmethod
    def _image_name(info: dict) -> str:
        file_name = info.get("file_name") or str(info.get("coco_url", info["id"])).rsplit("/", 1)[-1]
        return Path(file_name).stem

    def _image_path(self, info: dict) -> Path:
        names = []
        if info.get("file_name"):
            names.append(info["file_name"])
        if info.get("coco_url"):
            names.append(str(info["coco_url"]).rsplit("/", 1)[-1])
        for name in names:
            for folder in self._images_dirs:
                for candidate in (folder / name, folder / Path(name).name):
                    if candidate.is_file():
                        return candidate
        raise FileNotFoundError(f"image {names[0] if names else info['id']!r} of {self.annotation_file} not "
                                f"found in {', '.join(map(str, self._images_dirs))}")

    # ------------------------------------------------------------------ samples
    def get_sample_name(self, index: int) -> str:
        info, anns, _ = self.dataset_samples[index]
        name = self._image_name(info)
        return f"{name}_{anns[0].get('id', 0)}" if self.one_object_per_sample else name

    def get_sample(self, index: int) -> DSample:
        """Image of sample ``index`` with its objects in first-fit layers (ignore id -1 for crowd regions).

        Raises:
            FileNotFoundError: image file not found.  ValueError: unreadable image, or image size
                differs from the json's height/width (names both).
        Images whose object masks all decode empty are returned without objects and recorded in ``skipped``.
        """
        info, anns, extra_ignore = self.dataset_samples[index]
        image_path = self._image_path(info)
        image = read_image(image_path)
        height, width = int(info.get("height", image.shape[0])), int(info.get("width", image.shape[1]))
        if image.shape[:2] != (height, width):
            raise ValueError(f"image {image_path} is {image.shape[1]}x{image.shape[0]} (WxH) but "
                             f"{self.annotation_file} gives {width}x{height} for image id {info['id']}")

        layers: list[np.ndarray] = []
        objects: list[tuple[int, int]] = []
        ignore = np.zeros((height, width), bool)
        for obj_index, ann in enumerate(anns + tuple(extra_ignore), start=1):
            mask = annotation_to_mask(ann["segmentation"], height, width)
            if not mask.any():
                continue
            is_ignore = ann in extra_ignore or (ann.get("iscrowd", 0) and self.crowd == "ignore")
            if is_ignore:
                ignore |= mask
                continue
            for layer_index, layer in enumerate(layers):
                if not layer[mask].any():
                    break
            else:
                layers.append(np.zeros((height, width), np.int32))
                layer_index = len(layers) - 1
            layers[layer_index][mask] = obj_index
            objects.append((layer_index, obj_index))
        name = self.get_sample_name(index)
        if not objects:
            self._skip(name, f"all object masks of image {image_path.name} are empty")
            layers = layers or [np.zeros((height, width), np.int32)]
        ignore_ids = []
        if ignore.any():
            layers.append(np.where(ignore, -1, 0).astype(np.int32))
            ignore_ids = [(len(layers) - 1, -1)]
        return DSample(image, np.stack(layers, axis=2), objects_ids=objects, ignore_ids=ignore_ids,
                       sample_id=index, name=name)


class LvisDataset(CocoJsonDataset):
    """LVIS v1 (Gupta et al. 2019) in RITM's layout, read as COCO json.

    Layout: ``<path>/<split>/lvis_<split>.json`` (or ``<path>/annotations/lvis_v1_<split>.json``),
    images in ``<path>/train/images``, ``<path>/val/images``, ``<path>/train2017`` or
    ``<path>/val2017`` (LVIS v1 val uses COCO train2017 images too, so all are searched).
    """

    def __init__(self, dataset_path, split: str = "train", **kwargs):
        path = Path(dataset_path)
        layout = ("  <path>/<split>/lvis_<split>.json or <path>/annotations/lvis_v1_<split>.json\n"
                  "  images: <path>/{train,val}/images/ or <path>/{train2017,val2017}/")
        require_dir(path, layout, "LVIS folder")
        json_path = path / split / f"lvis_{split}.json"
        if not json_path.is_file():
            json_path = require_file(path / "annotations" / f"lvis_v1_{split}.json", layout, "LVIS annotation file")
        dirs = [path / "train" / "images", path / "val" / "images", path / "train2017", path / "val2017"]
        kwargs.setdefault("images_dir", [d for d in dirs if d.is_dir()] or dirs)
        super().__init__(json_path, **kwargs)
