"""Writers for multi-object annotations: instance / colour / overlay PNGs, COCO-style json, semantic and
COCO panoptic forms.

Every file is written with :func:`isegm.io.atomic_write_bytes` (temporary file, fsync, rename), so a crash
never leaves a half-written file; existing files are never overwritten unless ``overwrite=True``.

Formats:
- ``<name>_instances.png``: (H, W) uint16 PNG, 0 = background, object k (1-based, in annotation order) = k.
- ``<name>_colors.png``: (H, W, 3) opaque PNG, colour of id k from :func:`isegm.annotation.render.instance_color`.
- ``<name>_overlay.png``: the image with translucent instance colours, outlines and ids.
- ``<name>.json``: COCO object-detection format (https://cocodataset.org/#format-data) with one image; each
  annotation's ``segmentation`` is the exact mask as pycocotools compressed RLE (``{"size": [H, W], "counts":
  str}``; ``COCO.annToMask`` gives the instance PNG's object pixel for pixel), ``polygons`` holds its outer
  contours as COCO polygons (lossy: boundary pixels and holes are approximated), ``rle`` repeats the RLE (kept
  for readers of older files); each also carries ``label``, ``clicks``
  (y, x, positive, order), ``restrict_box`` ([y0, x0, y1, x1], end exclusive, or null), ``init_mask`` (RLE of an
  external mask the object started from, or null), ``threshold`` and ``checkpoint``; the top-level ``isegm`` key
  holds the settings needed to replay the clicks (see :mod:`isegm.annotation.controller`).
- ``<name>_semantic.png``: category id per pixel (uint8, or uint16 past 255 categories), 0 = unlabelled.
- ``<name>_panoptic.png`` + ``<name>_panoptic.json``: COCO panoptic format
  (https://cocodataset.org/#format-data, "Panoptic Segmentation"): segment id = R + 256 * G + 256**2 * B;
  a thing category gives one segment per instance (segment id = instance id); a stuff category gives one
  segment, the union of its instances, with the smallest of their instance ids as segment id.
"""
import datetime
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from isegm.annotation.render import colorize_instances, draw_overlay, instance_color
from isegm.io import atomic_write_bytes, dumps_json

logger = logging.getLogger(__name__)

OUTPUT_KINDS = ("instances", "colors", "overlay", "json", "semantic", "panoptic_png", "panoptic_json")


@dataclass
class ExportObject:
    """One finished object as the exporters see it.

    Attributes:
        id: instance id, 1..N, in annotation order.
        label: class label (category name).
        category_id: id of the category in ``categories`` (1-based).
        mask: (H, W) bool final mask (after the overlap rule), non-empty.
        extra: plain-data fields copied into the COCO annotation (clicks, restrict_box, init_mask, threshold, ...).
    """
    id: int
    label: str
    category_id: int
    mask: np.ndarray
    extra: dict = field(default_factory=dict)


def output_paths(out_dir, name):
    """Paths that :func:`export_annotations` writes for image stem ``name`` into ``out_dir``: {kind: Path}."""
    out_dir = Path(out_dir)
    return {
        "instances": out_dir / f"{name}_instances.png",
        "colors": out_dir / f"{name}_colors.png",
        "overlay": out_dir / f"{name}_overlay.png",
        "json": out_dir / f"{name}.json",
        "semantic": out_dir / f"{name}_semantic.png",
        "panoptic_png": out_dir / f"{name}_panoptic.png",
        "panoptic_json": out_dir / f"{name}_panoptic.json",
    }


def encode_png(array):
    """PNG bytes of an (H, W) uint8/uint16 array or an (H, W, 3) uint8 RGB array (lossless)."""
    array = np.ascontiguousarray(array)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"could not encode array of shape {array.shape} dtype {array.dtype} as PNG")
    return buf.tobytes()


def mask_to_rle(mask):
    """COCO compressed RLE of a (H, W) bool mask: {'size': [H, W], 'counts': str} (pycocotools)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_to_mask(rle):
    """(H, W) bool mask from a COCO compressed RLE dict whose counts are str or bytes.

    Raises:
        ValueError: for a dict without 'size' and 'counts'.
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"expected a COCO RLE dict with 'size' and 'counts', got {type(rle).__name__}")
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return mask_utils.decode({"size": list(rle["size"]), "counts": counts}).astype(bool)


def mask_bbox_xywh(mask):
    """COCO bbox [x, y, width, height] in pixels of a non-empty (H, W) bool mask (tight, inclusive extents)."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return [0, 0, 0, 0]
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]


def mask_polygons(mask):
    """Outer contours of a (H, W) bool mask as COCO polygons: list of [x1, y1, x2, y2, ...] (pixel centres).

    Uses ``cv2.findContours(RETR_EXTERNAL, CHAIN_APPROX_SIMPLE)``; holes are only represented in the RLE.
    Contours with fewer than 3 points (single pixels, 1-px lines) are left out, as COCO polygons need 3.
    """
    contours, _ = cv2.findContours(np.asarray(mask, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(int).tolist() for c in contours if len(c) >= 3]


def instances_from_objects(objects, shape):
    """(H, W) uint16 instance map from ``ExportObject``s (masks must not overlap).

    Raises:
        ValueError: on overlapping masks, a mask of another shape, or an id outside 1..65535.
    """
    instances = np.zeros(shape, np.uint16)
    for obj in objects:
        if obj.mask.shape != tuple(shape):
            raise ValueError(f"object {obj.id}: mask shape {obj.mask.shape} differs from image shape {tuple(shape)}")
        if not 0 < obj.id < 65536:
            raise ValueError(f"object id {obj.id} outside 1..65535 (uint16 PNG)")
        if np.any(instances[obj.mask] != 0):
            raise ValueError(f"object {obj.id} overlaps an earlier object; apply the overlap rule first")
        instances[obj.mask] = obj.id
    return instances


def semantic_map(objects, shape, num_categories):
    """(H, W) category-id map: uint8 when ``num_categories`` < 256, else uint16; 0 = unlabelled."""
    dtype = np.uint8 if num_categories < 256 else np.uint16
    sem = np.zeros(shape, dtype)
    for obj in objects:
        sem[obj.mask] = obj.category_id
    return sem


def id_to_rgb(ids):
    """COCO panoptic colour encoding: (..., ) int ids -> (..., 3) uint8 with id = R + 256 G + 256^2 B."""
    ids = np.asarray(ids, np.int64)
    return np.stack([ids % 256, (ids // 256) % 256, (ids // 65536) % 256], axis=-1).astype(np.uint8)


def rgb_to_id(rgb):
    """Inverse of :func:`id_to_rgb`: (..., 3) uint8 -> (...) int64 ids."""
    rgb = np.asarray(rgb, np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def panoptic_segments(objects, categories, shape):
    """Panoptic segment map and segment infos.

    Args:
        objects: list of ExportObject (non-overlapping masks).
        categories: list of dicts with 'id', 'name', 'isthing' (bool/int).
        shape: (H, W).
    Returns:
        (segment_ids (H, W) int64, segments_info list of COCO panoptic dicts sorted by id).
    """
    isthing = {int(c["id"]): bool(c["isthing"]) for c in categories}
    seg = np.zeros(shape, np.int64)
    infos = {}
    stuff_segment = {}
    for obj in objects:
        if isthing.get(obj.category_id, True):
            seg_id = obj.id
        else:
            seg_id = stuff_segment.setdefault(obj.category_id, obj.id)
        seg[obj.mask] = seg_id
        infos.setdefault(seg_id, {"id": int(seg_id), "category_id": int(obj.category_id), "iscrowd": 0})
    segments_info = []
    for seg_id in sorted(infos):
        m = seg == seg_id
        info = dict(infos[seg_id])
        info["bbox"] = mask_bbox_xywh(m)
        info["area"] = int(m.sum())
        segments_info.append(info)
    return seg, segments_info


def build_coco_json(image_info, objects, categories, isegm_info, checkpoint_name=None):
    """COCO-style dict for one image.

    Args:
        image_info: dict with file_name, height, width.
        objects: list of ExportObject.
        categories: list of {'id', 'name', 'isthing'}.
        isegm_info: plain-data dict stored under the top-level 'isegm' key (replay settings).
        checkpoint_name: str written into each annotation's 'checkpoint'.
    """
    annotations = []
    for obj in objects:
        rle = mask_to_rle(obj.mask)
        ann = {
            "id": int(obj.id),
            "image_id": 1,
            "category_id": int(obj.category_id),
            "label": obj.label,
            "iscrowd": 0,
            "bbox": mask_bbox_xywh(obj.mask),
            "area": int(obj.mask.sum()),
            "segmentation": rle,
            "polygons": mask_polygons(obj.mask),
            "rle": rle,
            "checkpoint": checkpoint_name,
        }
        ann.update(obj.extra)
        annotations.append(ann)
    return {
        "info": {
            "description": "isegm interactive annotation",
            "date_created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
        "images": [{"id": 1, "file_name": image_info["file_name"], "height": int(image_info["height"]),
                    "width": int(image_info["width"])}],
        "categories": [{"id": int(c["id"]), "name": c["name"], "supercategory": "",
                        "isthing": int(bool(c["isthing"]))} for c in categories],
        "annotations": annotations,
        "isegm": isegm_info,
    }


def export_annotations(out_dir, name, image, objects, categories, isegm_info, image_file_name=None,
                       checkpoint_name=None, overwrite=False, alpha=0.5):
    """Write every output form for one annotated image.

    Args:
        out_dir: output folder (created if missing).
        name: file stem (normally the image's stem).
        image: (H, W, 3) uint8 RGB.
        objects: list of ExportObject with non-overlapping (H, W) bool masks, ids 1..N.
        categories: list of {'id', 'name', 'isthing'} covering every object's category_id.
        isegm_info: replay settings stored in the json (plain data).
        image_file_name: file name recorded in the json files (defaults to ``name``).
        checkpoint_name: checkpoint recorded per annotation.
        overwrite: replace existing files; when False and any target exists, nothing is written.
        alpha: overlay opacity in [0, 1].
    Returns:
        dict kind -> Path of the written files (keys: :data:`OUTPUT_KINDS`).
    Raises:
        FileExistsError: some target exists and overwrite is False (the message lists them).
        ValueError: inconsistent objects (overlap, shapes, unknown category).
    """
    out_dir = Path(out_dir)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
    shape = image.shape[:2]
    known = {int(c["id"]) for c in categories}
    for obj in objects:
        if obj.category_id not in known:
            raise ValueError(f"object {obj.id} has category_id {obj.category_id} not in categories {sorted(known)}")
    paths = output_paths(out_dir, name)
    if not overwrite:
        existing = [str(p) for p in paths.values() if p.exists()]
        if existing:
            raise FileExistsError("refusing to overwrite existing files (pass overwrite=True / --overwrite): "
                                  + ", ".join(existing))
    instances = instances_from_objects(objects, shape)
    file_name = image_file_name or name
    image_info = {"file_name": file_name, "height": shape[0], "width": shape[1]}
    coco = build_coco_json(image_info, objects, categories, isegm_info, checkpoint_name)
    seg, segments_info = panoptic_segments(objects, categories, shape)
    panoptic = {
        "info": coco["info"],
        "images": coco["images"],
        "annotations": [{"image_id": 1, "file_name": paths["panoptic_png"].name, "segments_info": segments_info}],
        "categories": [{"id": int(c["id"]), "name": c["name"], "supercategory": "",
                        "isthing": int(bool(c["isthing"])), "color": list(instance_color(int(c["id"])))}
                       for c in categories],
    }
    payloads = {
        "instances": encode_png(instances),
        "colors": encode_png(colorize_instances(instances)),
        "overlay": encode_png(draw_overlay(image, instances, alpha=alpha)),
        "json": dumps_json(coco, indent=1).encode("utf-8"),
        "semantic": encode_png(semantic_map(objects, shape, max(known, default=0))),
        "panoptic_png": encode_png(id_to_rgb(seg)),
        "panoptic_json": dumps_json(panoptic).encode("utf-8"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind in OUTPUT_KINDS:
        atomic_write_bytes(paths[kind], payloads[kind], overwrite=overwrite)
    logger.info("wrote %d objects for %s into %s", len(objects), name, out_dir)
    return paths
