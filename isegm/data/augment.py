"""SUEM, the data augmentation of CFR-ICL (Sun et al., AAAI 2024): copy-paste and image mix.

CFR-ICL's training code (``isegm/data/base.py``, ``copy_paste_prob`` / ``image_mix_prob``, both 0.5 in
its COCO+LVIS recipes) pastes objects between samples and blends images; this module computes the
same kind of augmentation on our multi-object :class:`~isegm.data.sample.DSample`.

Two augmentations that combine a training sample with another sample of the same dataset:

* **copy-paste**: one object of the other sample, with its pixels, is pasted onto this sample's image
  at a random place, scale and (horizontal) flip. The pasted object becomes a new object of the
  sample; it lies in front, so every object (and ignore region) it covers loses those pixels, and
  objects left with fewer than ``min_remnant_area`` pixels are dropped. Surviving objects keep their
  ids; the pasted object gets the next free id. The points sampler may then pick the pasted object
  (an object on a new background) or an occluded one (an object behind an unrelated occluder), the
  two cases CFR-ICL's code builds separately.
* **image mix**: the image becomes ``alpha * image + (1 - alpha) * other_image`` with ``alpha`` drawn
  from ``mix_alpha_range`` (CFR-ICL: uniform in [0.5, 1]); the masks are unchanged.

CFR-ICL's third ingredient, stuff regions (COCO stuff) as extra targets, is a dataset option: the
loaders that have stuff regions take ``stuff_prob`` (e.g. :class:`~isegm.data.datasets.coco_lvis.CocoLvisDataset`).

Every random choice is drawn from the NumPy generator passed in (the dataset's per-item generator),
in a fixed order, so an item is a function of (seed, epoch, index). With both probabilities 0 the
sample is returned as is and nothing is drawn.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .sample import DSample

__all__ = ["SUEM", "paste_object", "mix_images", "object_patch"]


def _check_range(name: str, value, low: float, high: float | None) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"SUEM {name} must be a pair (min, max), got {value!r}") from None
    if not (low <= a <= b and (high is None or b <= high)):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"SUEM {name} must satisfy min <= max within {bound}, got {value!r}")
    return a, b


def mix_images(image: np.ndarray, other: np.ndarray, alpha: float) -> np.ndarray:
    """Blend two images: ``rint(alpha * image + (1 - alpha) * other)`` (CFR-ICL's image mix).

    Args:
        image, other: (H, W, 3) uint8 RGB of the same shape.
        alpha: weight of ``image`` in [0, 1].

    Returns:
        (H, W, 3) uint8 (a new array).

    Raises:
        ValueError: shapes differ or ``alpha`` is outside [0, 1].
    """
    if image.shape != other.shape:
        raise ValueError(f"image mix needs images of one shape, got {image.shape} and {other.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"image mix alpha must be in [0, 1], got {alpha}")
    mixed = alpha * image.astype(np.float32) + (1.0 - alpha) * other.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def object_patch(sample: DSample, obj_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The bounding-box crop of one object: ``(image (h, w, 3) uint8, mask (h, w) bool)``.

    Ignore pixels are not part of the object. Raises KeyError for an unknown id and ValueError
    for an object without pixels.
    """
    mask = sample.get_object_mask(obj_id) == 1
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise ValueError(f"object {obj_id} of sample {sample.name!r} has no pixels to paste")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return sample.image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy()


def paste_object(sample: DSample, patch_image: np.ndarray, patch_mask: np.ndarray, top_left: tuple[int, int],
                 alpha: float = 1.0, min_remnant_area: int = 1) -> tuple[DSample, int]:
    """Paste an object in front of a sample's objects; returns ``(new sample, id of the pasted object)``.

    Pixels ``p`` of ``patch_mask`` land at ``top_left + p`` (``(y, x)``); there the image becomes
    ``rint(alpha * patch + (1 - alpha) * image)``, every mask layer is cleared (occluded objects and
    ignore regions lose those pixels) and a new layer holds the pasted object. Objects left with
    fewer than ``min_remnant_area`` pixels (the pasted one included) are dropped and their pixels
    erased; children of a dropped object move to its parent. The other objects keep their ids and
    tree; the pasted object gets ``max(ids) + 1`` (0 for an empty sample), as a root object.
    The input sample is not modified; the result is an un-augmented DSample (soft targets of it
    are binary).

    Args:
        sample: the target sample (its current, possibly augmented, image and masks).
        patch_image: (h, w, 3) uint8 RGB.
        patch_mask: (h, w) bool, the object's pixels.
        top_left: (y, x) of the patch's top-left pixel; the patch must lie inside the image.
        alpha: weight of the pasted pixels in [0, 1].
        min_remnant_area: pixels an object needs to stay.

    Raises:
        ValueError: shapes mismatch, the patch does not fit at ``top_left``, or ``alpha`` outside [0, 1].
    """
    patch_mask = np.asarray(patch_mask, dtype=bool)
    if patch_image.ndim != 3 or patch_image.shape[2] != 3 or patch_image.shape[:2] != patch_mask.shape:
        raise ValueError(f"paste_object needs an (h, w, 3) patch image and an (h, w) mask, got "
                         f"{patch_image.shape} and {patch_mask.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"paste alpha must be in [0, 1], got {alpha}")
    height, width = sample.image.shape[:2]
    h, w = patch_mask.shape
    y0, x0 = int(top_left[0]), int(top_left[1])
    if y0 < 0 or x0 < 0 or y0 + h > height or x0 + w > width:
        raise ValueError(f"a ({h}, {w}) patch at (y, x) = ({y0}, {x0}) does not fit in a ({height}, {width}) image")

    covered = np.zeros((height, width), dtype=bool)
    covered[y0:y0 + h, x0:x0 + w] = patch_mask

    image = sample.image.copy()
    region = image[y0:y0 + h, x0:x0 + w]
    blended = alpha * patch_image.astype(np.float32) + (1.0 - alpha) * region.astype(np.float32)
    region[patch_mask] = np.clip(np.rint(blended[patch_mask]), 0, 255).astype(np.uint8)

    old = sample.encoded_masks
    masks = np.zeros((height, width, old.shape[2] + 1), dtype=np.int32)
    masks[:, :, :-1] = old
    masks[covered, :-1] = 0
    masks[covered, -1] = 1

    objects = {obj_id: {"mapping": info["mapping"], "parent": info["parent"], "children": list(info["children"])}
               for obj_id, info in sample.objects.items()}
    new_id = max(objects, default=-1) + 1
    objects[new_id] = {"mapping": (old.shape[2], 1), "parent": None, "children": []}
    result = DSample(image, masks, ignore_ids=sample.ignore_regions, objects=objects, sample_id=sample.sample_id,
                     name=sample.name)
    result.remove_small_objects(max(int(min_remnant_area), 1))
    # erase the pixels of dropped objects (DSample.augment does the same for objects that vanished)
    result._compute_objects_areas()  # noqa: SLF001
    return result, new_id


@dataclass(frozen=True)
class SUEM:
    """CFR-ICL's sample-level augmentation: copy-paste and image mix, each with its probability.

    Args:
        copy_paste_prob: probability of pasting one object of another sample (CFR-ICL: 0.5).
        image_mix_prob: probability of blending the image with another sample's image (CFR-ICL: 0.5).
        paste_scale_range: (min, max) scale of the pasted object, uniform; shrunk further if the
            object would not fit in the image.
        paste_alpha_range: (min, max) weight of the pasted pixels, uniform in [0, 1]
            (CFR-ICL blends pasted objects with a weight in [0.5, 1]).
        paste_flip_prob: probability of flipping the pasted object horizontally.
        mix_alpha_range: (min, max) weight of this sample's image in the image mix (CFR-ICL: [0.5, 1]).
        min_remnant_area: pixels an object needs after being occluded (smaller remnants are dropped).

    Raises:
        ValueError: a probability outside [0, 1], or a malformed range.

    Calling it: ``suem(sample, draw_other, rng) -> (sample, record)``; ``draw_other()`` returns
    another (augmented) sample of the dataset or None, drawing its randomness from ``rng``'s source;
    ``record`` lists what was drawn (``{'copy_paste': {...}, 'image_mix': {'alpha': a}}``, keys
    only for the augmentations that were applied). A paste that would leave the sample without any
    object (a tiny pasted object over everything) is undone, its draws still taken.

    Draw order from ``rng`` (fixed): copy-paste coin; [other sample, object, scale, flip, y, x,
    alpha]; image-mix coin; [other sample, alpha]. A coin is not drawn when its probability is 0.
    The pasted object is a root object of the other sample (its parts are not carried over), drawn
    uniformly among those with pixels; an other sample without any is not pasted from.
    """
    copy_paste_prob: float = 0.0
    image_mix_prob: float = 0.0
    paste_scale_range: tuple[float, float] = (0.5, 1.0)
    paste_alpha_range: tuple[float, float] = (0.5, 1.0)
    paste_flip_prob: float = 0.5
    mix_alpha_range: tuple[float, float] = (0.5, 1.0)
    min_remnant_area: int = 1

    def __post_init__(self):
        for name in ("copy_paste_prob", "image_mix_prob", "paste_flip_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"SUEM {name} must be a probability in [0, 1], got {value!r}")
        object.__setattr__(self, "paste_scale_range", _check_range("paste_scale_range", self.paste_scale_range,
                                                                   1e-3, None))
        object.__setattr__(self, "paste_alpha_range", _check_range("paste_alpha_range", self.paste_alpha_range,
                                                                   0.0, 1.0))
        object.__setattr__(self, "mix_alpha_range", _check_range("mix_alpha_range", self.mix_alpha_range, 0.0, 1.0))
        if int(self.min_remnant_area) < 0:
            raise ValueError(f"SUEM min_remnant_area must be >= 0, got {self.min_remnant_area}")

    @property
    def active(self) -> bool:
        """True when some augmentation can happen (a probability is above 0)."""
        return self.copy_paste_prob > 0 or self.image_mix_prob > 0

    def __call__(self, sample: DSample, draw_other: Callable[[], DSample | None],
                 rng: np.random.Generator) -> tuple[DSample, dict]:
        record: dict = {}
        if self.copy_paste_prob > 0 and rng.random() < self.copy_paste_prob:
            other = draw_other()
            pasted = self._copy_paste(sample, other, rng) if other is not None else None
            if pasted is not None and (len(pasted[0]) > 0 or len(sample) == 0):  # a paste leaving no object is undone
                sample, record["copy_paste"] = pasted
        if self.image_mix_prob > 0 and rng.random() < self.image_mix_prob:
            other = draw_other()
            if other is not None:
                sample, record["image_mix"] = self._image_mix(sample, other, rng)
        return sample, record

    # ------------------------------------------------------------------ steps
    def _copy_paste(self, sample: DSample, other: DSample, rng: np.random.Generator) -> tuple[DSample, dict] | None:
        """Paste one root object of ``other`` (uniformly drawn among those with pixels); None if it has none."""
        import albumentations as A
        import cv2

        roots = [obj_id for obj_id in sorted(other.root_objects) if (other.get_object_mask(obj_id) == 1).any()]
        if not roots:
            return None
        source_id = roots[int(rng.integers(len(roots)))]
        patch_image, patch_mask = object_patch(other, source_id)
        height, width = sample.image.shape[:2]
        h, w = patch_mask.shape
        scale = float(rng.uniform(*self.paste_scale_range))
        scale = min(scale, height / h, width / w)
        new_h = int(np.clip(round(h * scale), 1, height))
        new_w = int(np.clip(round(w * scale), 1, width))
        flip = bool(rng.random() < self.paste_flip_prob)
        # geometry by albumentations with the parameters drawn above (deterministic transforms)
        ops = [A.Resize(new_h, new_w, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST)]
        if flip:
            ops.append(A.HorizontalFlip(p=1.0))
        out = A.Compose(ops, p=1.0)(image=patch_image, mask=patch_mask.astype(np.uint8))
        patch_image, patch_mask = out["image"], out["mask"].astype(bool)
        y0 = int(rng.integers(height - new_h + 1))
        x0 = int(rng.integers(width - new_w + 1))
        alpha = float(rng.uniform(*self.paste_alpha_range))
        result, new_id = paste_object(sample, patch_image, patch_mask, (y0, x0), alpha, self.min_remnant_area)
        info = {"source": other.name, "source_object": source_id, "object_id": new_id, "scale": scale,
                "flip": flip, "top_left": (y0, x0), "size": (new_h, new_w), "alpha": alpha}
        return result, info

    def _image_mix(self, sample: DSample, other: DSample, rng: np.random.Generator) -> tuple[DSample, dict]:
        other_image = other.image
        if other_image.shape != sample.image.shape:
            import albumentations as A

            height, width = sample.image.shape[:2]
            other_image = A.Resize(height, width)(image=other_image)["image"]
        alpha = float(rng.uniform(*self.mix_alpha_range))
        objects = {obj_id: {"mapping": info["mapping"], "parent": info["parent"], "children": list(info["children"])}
                   for obj_id, info in sample.objects.items()}
        result = DSample(mix_images(sample.image, other_image, alpha), sample.encoded_masks.copy(),
                         ignore_ids=sample.ignore_regions, objects=objects,
                         sample_id=sample.sample_id, name=sample.name)
        return result, {"source": other.name, "alpha": alpha}
