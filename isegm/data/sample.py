"""One image with its instance masks: the unit every dataset yields (RITM's ``DSample``).

Masks are stored as *encoded layers*: an ``(H, W, L)`` int32 array where each layer holds
non-overlapping instance ids (0 = background).  An object is addressed by its *mapping*
``(layer, id)``; overlapping objects (e.g. COCO annotations, or part/whole hierarchies)
live in different layers.  Ignore regions are ``(layer, id)`` pairs too; pixels covered by
any ignore region read as -1 in every object mask.

Objects form a tree (``parent`` / ``children``) so that a points sampler can pick a whole
object or one of its parts (RITM, Sofiiuk et al. 2021, Sec. 3.3).  Flat datasets simply
have root objects only.
"""
from __future__ import annotations

import copy
import types
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["DSample", "labels_with_sizes"]


def labels_with_sizes(layer: np.ndarray) -> tuple[list[int], list[int]]:
    """Non-zero labels of an integer mask and their pixel counts.

    Args:
        layer: (H, W) integer array; 0 is background, negative values are allowed.

    Returns:
        (labels, sizes): two lists of Python ints, labels in increasing order.
    """
    labels, counts = np.unique(layer, return_counts=True)
    keep = labels != 0
    return labels[keep].tolist(), counts[keep].tolist()


def _as_mappings(ids: Sequence[Any] | None, num_layers: int, what: str) -> list[tuple[int, int]]:
    """Normalise ``[id, ...]`` (layer 0) or ``[(layer, id), ...]`` to a list of (layer, id) tuples."""
    if ids is None:
        return []
    mappings = []
    for item in ids:
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise ValueError(f"{what}: expected (layer, id) pairs, got {item!r}")
            layer, obj_id = int(item[0]), int(item[1])
        else:
            if num_layers != 1:
                raise ValueError(f"{what}: plain ids need a single mask layer, the masks have {num_layers} "
                                 f"layers; pass (layer, id) pairs instead")
            layer, obj_id = 0, int(item)
        if not 0 <= layer < num_layers:
            raise ValueError(f"{what}: layer {layer} out of range for masks with {num_layers} layer(s)")
        mappings.append((layer, obj_id))
    return mappings


class DSample:
    """An RGB image with instance masks, object tree and ignore regions.

    Args:
        image: (H, W, 3) uint8 RGB.
        encoded_masks: (H, W) or (H, W, L) integer array of instance ids per layer (stored as int32);
            0 = background.
        objects_ids: the objects, as ids in layer 0 or as (layer, id) pairs.  When both this and
            ``objects`` are None, every non-zero, non-ignored id of every layer is an object.
        ignore_ids: ignore regions, as ids in layer 0 or (layer, id) pairs (e.g. GrabCut's
            boundary band, PASCAL VOC's 255 border).
        sample_id: index of the sample in its dataset (RITM), or any identifier.
        objects: instead of ``objects_ids``, a ready object tree ``{obj_id: {'mapping': (layer, id),
            'parent': obj_id | None, 'children': [obj_id, ...]}}`` (hierarchical datasets).
        name: human-readable name (e.g. the file stem), used in reports.

    Raises:
        ValueError: wrong image dtype/shape, masks not matching the image size, malformed ids.
    """

    def __init__(self, image: np.ndarray, encoded_masks: np.ndarray,
                 objects_ids: Sequence[Any] | None = None, ignore_ids: Sequence[Any] | None = None,
                 sample_id: Any = None, *, objects: Mapping[int, Mapping[str, Any]] | None = None,
                 name: str | None = None):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"DSample image must be (H, W, 3) uint8 RGB, got shape {image.shape} "
                             f"dtype {image.dtype}")
        masks = np.asarray(encoded_masks)
        if masks.ndim == 2:
            masks = masks[:, :, np.newaxis]
        if masks.ndim != 3 or not np.issubdtype(masks.dtype, np.integer):
            raise ValueError(f"DSample masks must be an (H, W) or (H, W, L) integer array, got shape "
                             f"{masks.shape} dtype {masks.dtype}")
        if masks.shape[:2] != image.shape[:2]:
            raise ValueError(f"DSample masks size {masks.shape[:2]} differs from image size {image.shape[:2]}")
        masks = masks.astype(np.int32, copy=False)

        self.image = image
        self.sample_id = sample_id
        self.name = name if name is not None else (None if sample_id is None else str(sample_id))
        self._encoded_masks = masks
        num_layers = masks.shape[2]
        self._ignored_regions = _as_mappings(ignore_ids, num_layers, "ignore_ids")

        if objects is not None:
            self._objects = {}
            for obj_id, info in objects.items():
                layer, mask_id = info["mapping"]
                self._objects[int(obj_id)] = {
                    "mapping": (int(layer), int(mask_id)),
                    "parent": info.get("parent"),
                    "children": list(info.get("children", [])),
                }
        else:
            if objects_ids is None:
                ignored = set(self._ignored_regions)
                mappings = [(layer, obj_id) for layer in range(num_layers)
                            for obj_id in labels_with_sizes(masks[:, :, layer])[0]
                            if (layer, obj_id) not in ignored]
            else:
                mappings = _as_mappings(objects_ids, num_layers, "objects_ids")
            self._objects = {indx: {"mapping": mapping, "parent": None, "children": []}
                             for indx, mapping in enumerate(mappings)}

        self._augmented = False
        self._soft_replay: dict | None = None
        self._original = (self.image, self._encoded_masks, copy.deepcopy(self._objects))

    # ------------------------------------------------------------------ properties
    @property
    def encoded_masks(self) -> np.ndarray:
        """(H, W, L) int32 instance-id layers (read-only view; copy before editing)."""
        view = self._encoded_masks.view()
        view.flags.writeable = False
        return view

    @property
    def ignore_regions(self) -> list[tuple[int, int]]:
        """The ignore regions as ``(layer, id)`` pairs (a copy)."""
        return list(self._ignored_regions)

    @property
    def objects_ids(self) -> list[int]:
        """Ids of the objects currently in the sample (keys of :attr:`objects`)."""
        return list(self._objects.keys())

    @property
    def objects(self) -> Mapping[int, Mapping[str, Any]]:
        """Read-only object tree ``{obj_id: {'mapping', 'parent', 'children'[, 'area']}}``."""
        return types.MappingProxyType(self._objects)

    @property
    def root_objects(self) -> list[int]:
        """Ids of objects without a parent."""
        return [obj_id for obj_id, info in self._objects.items() if info["parent"] is None]

    @property
    def gt_mask(self) -> np.ndarray:
        """(H, W) int32 mask of the single object: 1 object, 0 background, -1 ignore.

        A sample without objects (e.g. a skipped, empty mask) gives a mask without 1s.

        Raises:
            ValueError: the sample holds more than one object.
        """
        if len(self._objects) > 1:
            raise ValueError(f"gt_mask needs a sample with one object, sample {self.name!r} has "
                             f"{len(self._objects)}; use get_object_mask(obj_id)")
        if not self._objects:
            return -self.get_ignore_mask().astype(np.int32)
        return self.get_object_mask(self.objects_ids[0])

    def __len__(self) -> int:
        return len(self._objects)

    def __repr__(self) -> str:
        return (f"DSample(name={self.name!r}, image={self.image.shape}, layers={self._encoded_masks.shape[2]}, "
                f"objects={len(self._objects)}, ignore_regions={len(self._ignored_regions)})")

    # ------------------------------------------------------------------ masks
    def get_object_mask(self, obj_id: int) -> np.ndarray:
        """(H, W) int32 mask of one object: 1 object, 0 elsewhere, -1 on ignore regions.

        Raises:
            KeyError: unknown ``obj_id`` (message lists the known ids).
        """
        layer, mask_id = self._mapping(obj_id)
        obj_mask = (self._encoded_masks[:, :, layer] == mask_id).astype(np.int32)
        ignore = self.get_ignore_mask()
        obj_mask[ignore] = -1
        return obj_mask

    def get_ignore_mask(self) -> np.ndarray:
        """(H, W) bool mask of all ignore regions."""
        ignore = np.zeros(self._encoded_masks.shape[:2], dtype=bool)
        for layer, region_id in self._ignored_regions:
            ignore |= self._encoded_masks[:, :, layer] == region_id
        return ignore

    def get_background_mask(self) -> np.ndarray:
        """(H, W) bool mask of pixels that are 0 in every layer (no object, no ignore region)."""
        return np.all(self._encoded_masks == 0, axis=2)

    def get_soft_object_mask(self, obj_id: int) -> np.ndarray:
        """(H, W) float32 object mask in [0, 1] with interpolated (soft) boundaries.

        After augmentation with an ``albumentations.ReplayCompose``, the geometric part of the
        recorded augmentation is replayed on the original binary mask with the image
        interpolation (RITM's ``soft_targets``).  Without augmentation this is the binary mask.

        Raises:
            RuntimeError: the sample was augmented by a transform that is not a ReplayCompose.
        """
        layer, mask_id = self._mapping(obj_id)
        if not self._augmented:
            return (self._encoded_masks[:, :, layer] == mask_id).astype(np.float32)
        if self._soft_replay is None:
            raise RuntimeError("soft object masks need the sample augmented with an albumentations "
                               "ReplayCompose (the replay record is missing)")
        import albumentations as A

        original_masks = self._original[1]
        obj_mask = (original_masks[:, :, layer] == mask_id).astype(np.float32)
        with warnings.catch_warnings():
            # albumentations 2.x warns about its own serialised-only arguments when replaying
            warnings.simplefilter("ignore", UserWarning)
            soft = A.ReplayCompose.replay(copy.deepcopy(self._soft_replay), image=obj_mask)["image"]
        return np.clip(soft, 0.0, 1.0).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ editing
    def augment(self, transform) -> None:
        """Apply one albumentations transform jointly to the image and all mask layers.

        The transform is called as ``transform(image=(H, W, 3) uint8, mask=(H, W, L) int32)``
        (masks must therefore use nearest-neighbour interpolation, albumentations' default).
        Always starts from the original (un-augmented) data.  Afterwards, objects that no
        longer have any pixel are dropped and ids that belong to no object and no ignore
        region are erased (RITM); ignore regions are kept.

        Raises:
            ValueError: the transform did not return an image/mask of consistent shapes.
        """
        self.reset_augmentation()
        output = transform(image=self.image, mask=self._encoded_masks)
        image = np.asarray(output["image"])
        masks = np.asarray(output["mask"])
        if masks.ndim == 2:
            masks = masks[:, :, np.newaxis]
        if image.shape[:2] != masks.shape[:2] or masks.shape[2] != self._encoded_masks.shape[2]:
            raise ValueError(f"augmentation returned image {image.shape} and masks {masks.shape}; "
                             f"expected the same size and {self._encoded_masks.shape[2]} mask layer(s)")
        self.image = image
        self._encoded_masks = masks.astype(np.int32, copy=False)
        replay = output.get("replay")
        if replay:
            from isegm.data.transforms import remove_image_only_transforms

            self._soft_replay = remove_image_only_transforms(replay)
        self._augmented = True
        self._compute_objects_areas()
        self.remove_small_objects(min_area=1)

    def reset_augmentation(self) -> None:
        """Restore the original image, masks and object tree."""
        if not self._augmented:
            return
        self.image, self._encoded_masks, objects = self._original
        self._objects = copy.deepcopy(objects)
        self._augmented = False
        self._soft_replay = None

    def remove_small_objects(self, min_area: int) -> None:
        """Drop objects with fewer than ``min_area`` pixels; their children move to their parent."""
        if self._objects and any("area" not in info for info in self._objects.values()):
            self._compute_objects_areas()
        for obj_id, info in list(self._objects.items()):
            if info["area"] < min_area:
                self._remove_object(obj_id)

    # ------------------------------------------------------------------ internals
    def _mapping(self, obj_id: int) -> tuple[int, int]:
        try:
            return self._objects[obj_id]["mapping"]
        except KeyError:
            raise KeyError(f"object {obj_id!r} not in sample {self.name!r}; known ids: "
                           f"{self.objects_ids}") from None

    def _compute_objects_areas(self) -> None:
        by_mapping = {info["mapping"]: obj_id for obj_id, info in self._objects.items()}
        ignored = set(self._ignored_regions)
        for info in self._objects.values():
            info["area"] = 0
        for layer in range(self._encoded_masks.shape[2]):
            labels, sizes = labels_with_sizes(self._encoded_masks[:, :, layer])
            stray = []
            for label, size in zip(labels, sizes):
                key = (layer, label)
                if key in ignored:
                    continue
                if key in by_mapping:
                    self._objects[by_mapping[key]]["area"] = size
                else:
                    stray.append(label)
            if stray:
                if self._encoded_masks is self._original[1]:
                    self._encoded_masks = self._encoded_masks.copy()
                layer_view = self._encoded_masks[:, :, layer]
                layer_view[np.isin(layer_view, stray)] = 0

    def _remove_object(self, obj_id: int) -> None:
        info = self._objects.pop(obj_id)
        parent = info["parent"]
        for child_id in info["children"]:
            if child_id in self._objects:
                self._objects[child_id]["parent"] = parent
        if parent is not None and parent in self._objects:
            siblings = [x for x in self._objects[parent]["children"] if x != obj_id]
            self._objects[parent]["children"] = siblings + list(info["children"])
