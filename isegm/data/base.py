"""Base class of all interactive-segmentation datasets (RITM's ``ISDataset``).

A dataset lists its samples in ``__init__`` (cheap: file names only) and reads one in
:meth:`ISDataset.get_sample`.  Evaluation code uses ``get_sample`` / :meth:`iter_samples`
directly; training uses ``__getitem__``, which augments the sample, drops small objects,
simulates clicks and returns tensors::

    {'images':    (3, H, W) float32 RGB in [0, 1],
     'points':    (2N, 3) float32 rows (y, x, order), N positive then N negative, pad -1,
     'instances': (1, H, W) float32 target: 1 object, 0 background, -1 ignored pixels,
     'image_info': sample_id            # only with with_image_info=True}

Samples that cannot be used (e.g. an empty object mask) are *skipped*: ``get_sample`` still
returns them (a single-object sample then has an all-zero ``gt_mask``) but records
``(name, reason)`` in :attr:`ISDataset.skipped`; training draws another sample instead and
:meth:`ISDataset.iter_samples` leaves them out.  Loading is lazy, so ``skipped`` is complete
once every sample has been read (file-pairing problems are recorded in ``__init__``).
"""
from __future__ import annotations

import copy
import json
import logging
import math
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from .points_sampler import MultiPointSampler, SeedLike
from .sample import DSample

logger = logging.getLogger(__name__)

__all__ = ["ISDataset", "split_indices"]

_MAX_SAMPLE_ATTEMPTS = 100


class ISDataset(Dataset):
    """Interactive-segmentation dataset base (torch ``Dataset``).

    Args:
        augmentator: albumentations transform applied to image and masks (None = none).
        points_sampler: click simulator; None = ``MultiPointSampler(max_num_points=12)`` (RITM default).
        min_object_area: objects smaller than this (pixels, after augmentation) are dropped.
        keep_background_prob: probability of keeping an augmented sample whose objects all
            vanished (< 0: always keep); otherwise augmentation is retried (RITM).
        with_image_info: add ``'image_info': sample_id`` to training items.
        samples_scores_path: optional per-sample difficulty scores (RITM's ``*_samples_weights.pkl``:
            a pickle of ``(index, _, score)`` tuples, or the same as a JSON list); training then draws
            sample ``i`` with probability ~ ``(1 - score_i) ** samples_scores_gamma``.  Pickle files
            execute code when loaded: use trusted files only.
        samples_scores_gamma: exponent of those weights.
        epoch_len: items per epoch; > 0 draws a random sample per item, -1 = one pass over the samples.
        seed: seeds this dataset's generator, the sampler and the augmentator (None = OS entropy).
            In DataLoader workers they are re-seeded from torch's per-worker seed, so
            ``torch.manual_seed`` (or the DataLoader ``generator``) makes loading reproducible.
        suem: optional :class:`~isegm.data.augment.SUEM` (CFR-ICL's copy-paste and image mix),
            applied to the augmented sample before small objects are dropped; the other samples it
            combines with are drawn, read and augmented with this dataset's (per-item) generator.
            None, or all its probabilities 0, leaves items unchanged.
        pseudo_objects: optional :class:`~isegm.data.pseudo.PseudoObjects` (superpixel regions or pasted
            synthetic shapes as the target), applied to the augmented sample before ``suem``; drawn from the
            item's generator. None, or all its probabilities 0, leaves items unchanged.
        refinement: optional ``refinement(mask, rng, image=crop) -> (prev_mask (1, H, W) float32, points (2N, 3) float32,
            strokes)`` (e.g. :class:`isegm.inference.correction.CorrectionSimulator`): items then carry
            ``'prev_masks'`` (an initial mask to correct) and its corrective strokes as ``'points'`` in place of
            the sampler's clicks (the sampler still chooses the object); drawn from the item's generator after
            the sampler.

    Subclasses fill :attr:`dataset_samples` (one self-contained record per sample) in
    ``__init__`` and implement :meth:`get_sample`; they may override :meth:`get_sample_name`.
    """

    def __init__(self, augmentator=None, points_sampler: MultiPointSampler | None = None,
                 min_object_area: int = 0, keep_background_prob: float = 0.0, with_image_info: bool = False,
                 samples_scores_path: str | Path | None = None, samples_scores_gamma: float = 1.0,
                 epoch_len: int = -1, seed: SeedLike = None, suem=None, refinement=None, pseudo_objects=None):
        super().__init__()
        self.augmentator = augmentator
        self.points_sampler = points_sampler if points_sampler is not None else MultiPointSampler(max_num_points=12)
        self.min_object_area = min_object_area
        self.keep_background_prob = keep_background_prob
        self.with_image_info = with_image_info
        self.epoch_len = int(epoch_len)
        self.suem = suem
        self.refinement = refinement
        self.pseudo_objects = pseudo_objects
        self.samples_precomputed_scores = self._load_samples_scores(samples_scores_path, samples_scores_gamma)
        self.dataset_samples: list[Any] = []
        self.skipped: list[tuple[str, str]] = []
        self._worker_id: int | None = None
        self.rng = np.random.default_rng()
        if seed is not None:
            self.set_seed(seed)

    # ------------------------------------------------------------------ to implement
    def get_sample(self, index: int) -> DSample:
        """Read sample ``index`` (0 <= index < :meth:`get_samples_number`).

        A sample without any object pixel is still returned, and recorded in :attr:`skipped`.
        """
        raise NotImplementedError

    def get_sample_name(self, index: int) -> str:
        """Human-readable name of sample ``index`` (file stem or similar)."""
        return str(index)

    # ------------------------------------------------------------------ sizes
    def get_samples_number(self) -> int:
        """Number of listed samples (independent of ``epoch_len``)."""
        return len(self.dataset_samples)

    def __len__(self) -> int:
        return self.epoch_len if self.epoch_len > 0 else self.get_samples_number()

    # ------------------------------------------------------------------ seeding
    def set_seed(self, seed: SeedLike) -> None:
        """Re-seed this dataset, its points sampler and (if it supports it) its augmentator."""
        seq = seed if isinstance(seed, np.random.SeedSequence) else None
        if seq is None:
            if isinstance(seed, np.random.Generator):
                seed = int(seed.integers(2 ** 63))
            seq = np.random.SeedSequence(seed)
        own, sampler, augment = seq.spawn(3)
        self.rng = np.random.default_rng(own)
        self.points_sampler.set_seed(np.random.default_rng(sampler))
        if hasattr(self.augmentator, "set_random_seed"):
            self.augmentator.set_random_seed(int(augment.generate_state(1)[0]))

    def set_item_seeding(self, seed: int | None, epoch: int = 0) -> None:
        """Derive every item's randomness from ``(seed, epoch, index)`` (None switches this off).

        With it, ``self[index]`` draws its augmentation, its sample (``epoch_len > 0``) and its clicks
        from ``np.random.SeedSequence([seed, epoch, index])``, so an item does not depend on which
        DataLoader worker loads it or on what was loaded before: any ``num_workers`` and a resumed
        run give the same items. Call it again (``epoch`` changed) at the start of every epoch; it is
        picklable state, so DataLoader workers started afterwards see it.

        Raises:
            ValueError: ``seed`` or ``epoch`` negative.
        """
        if seed is not None and (int(seed) < 0 or int(epoch) < 0):
            raise ValueError(f"item seeding needs seed >= 0 and epoch >= 0, got seed={seed}, epoch={epoch}")
        self._item_seed = None if seed is None else (int(seed), int(epoch))

    def _reseed_in_worker(self) -> None:
        info = get_worker_info()
        if info is not None and info.id != self._worker_id:
            self._worker_id = info.id
            self.set_seed(info.seed)

    # ------------------------------------------------------------------ evaluation access
    def iter_samples(self) -> Iterator[tuple[int, DSample]]:
        """Yield ``(index, sample)`` for every sample with at least one non-empty object.

        Samples without object pixels are left out (and are in :attr:`skipped`).
        """
        for index in range(self.get_samples_number()):
            sample = self.get_sample(index)
            if _has_object_pixels(sample):
                yield index, sample

    def _skip(self, name: str, reason: str) -> None:
        """Record a skipped sample (once per name and reason) and log it."""
        entry = (str(name), reason)
        if entry not in self.skipped:
            self.skipped.append(entry)
            logger.warning("%s: skipping sample %r: %s", type(self).__name__, name, reason)

    # ------------------------------------------------------------------ training access
    def __getitem__(self, index: int) -> dict[str, Any]:
        """Training item: augmented sample, target object and simulated clicks.

        Returns:
            ``{'images': (3, H, W) float32 in [0, 1], 'points': (2N, 3) float32,
            'instances': (1, H, W) float32 (1 / 0 / -1 ignore)[, 'prev_masks': (1, H, W) float32 with
            ``refinement``][, 'image_info': sample_id]}``.
            With ``epoch_len > 0`` or sample scores, ``index`` is ignored and a random sample is drawn.

        Raises:
            IndexError: ``index`` out of range (one pass mode) or an empty dataset.
            RuntimeError: no usable sample found in 100 draws.
        """
        item_seed = getattr(self, "_item_seed", None)
        if item_seed is not None:
            self.set_seed(np.random.SeedSequence([*item_seed, int(index)]))
        else:
            self._reseed_in_worker()
        num_samples = self.get_samples_number()
        if num_samples == 0:
            raise IndexError(f"{type(self).__name__} has no samples")
        if self.samples_precomputed_scores is not None:
            scores = self.samples_precomputed_scores
            index = int(scores["indices"][self.rng.choice(len(scores["indices"]), p=scores["probs"])])
        elif self.epoch_len > 0:
            index = int(self.rng.integers(num_samples))
        elif not 0 <= index < num_samples:
            raise IndexError(f"index {index} out of range for {num_samples} samples")

        sample = None
        for _ in range(_MAX_SAMPLE_ATTEMPTS):
            sample = self.get_sample(index)
            # a sample without object pixels can never yield a target (RITM would loop forever)
            sample = self.augment_sample(sample) if _has_object_pixels(sample) else None
            if sample is not None:
                break
            index = int(self.rng.integers(num_samples))
        if sample is None:
            raise RuntimeError(f"{type(self).__name__}: no usable sample after {_MAX_SAMPLE_ATTEMPTS} attempts "
                               f"(skipped so far: {self.skipped[:5]})")

        pseudo = getattr(self, "pseudo_objects", None)
        if pseudo is not None and pseudo.active:
            sample, _ = pseudo(sample, self._draw_other_sample, self.rng)
        if self.suem is not None and self.suem.active:
            sample, _ = self.suem(sample, self._draw_other_sample, self.rng)
        sample.remove_small_objects(self.min_object_area)
        self.points_sampler.sample_object(sample)
        points = self.points_sampler.sample_points()
        mask = self.points_sampler.selected_mask

        image = np.ascontiguousarray(sample.image.transpose(2, 0, 1))
        output = {
            "images": torch.from_numpy(image).float().div_(255.0),
            "points": torch.from_numpy(np.asarray(points, dtype=np.float32)),
            "instances": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)),
        }
        if getattr(self, "refinement", None) is not None:
            prev, points, _ = self.refinement(mask, self.rng, image=sample.image)
            output["points"] = torch.from_numpy(np.asarray(points, dtype=np.float32))
            output["prev_masks"] = torch.from_numpy(np.ascontiguousarray(prev, dtype=np.float32))
        if self.with_image_info:
            output["image_info"] = sample.sample_id
        return output

    def augment_sample(self, sample: DSample) -> DSample | None:
        """Augment until an object survives or a background-only sample is kept (RITM).

        Returns None when ``_MAX_SAMPLE_ATTEMPTS`` augmentations all lost every object (the
        caller then draws another sample; RITM would loop forever).
        """
        if self.augmentator is None:
            return sample
        for _ in range(_MAX_SAMPLE_ATTEMPTS):
            sample.augment(self.augmentator)
            keep_background = self.keep_background_prob < 0.0 or self.rng.random() < self.keep_background_prob
            if len(sample) > 0 or keep_background:
                return sample
        return None

    def _draw_other_sample(self) -> DSample | None:
        """A random other sample for SUEM: drawn uniformly with :attr:`rng`, augmented, small objects dropped.

        Returns None when ``_MAX_SAMPLE_ATTEMPTS`` draws gave no sample with an object.
        """
        num_samples = self.get_samples_number()
        for _ in range(_MAX_SAMPLE_ATTEMPTS):
            other = self.get_sample(int(self.rng.integers(num_samples)))
            other = self.augment_sample(other) if _has_object_pixels(other) else None
            if other is not None:
                other.remove_small_objects(self.min_object_area)
                if len(other) > 0:
                    return other
        return None

    # ------------------------------------------------------------------ subsets
    _OPTION_NAMES = ("augmentator", "points_sampler", "min_object_area", "keep_background_prob",
                     "with_image_info", "epoch_len", "suem", "refinement", "pseudo_objects")

    def subset(self, indices: Sequence[int], **options: Any) -> ISDataset:
        """A copy of this dataset restricted to ``indices`` (order kept).

        Args:
            indices: sample indices into this dataset.
            **options: constructor options to change in the copy (augmentator, points_sampler,
                min_object_area, keep_background_prob, with_image_info, epoch_len, suem, refinement, pseudo_objects).

        Raises:
            IndexError: an index is out of range.  TypeError: unknown option.
        """
        unknown = set(options) - set(self._OPTION_NAMES)
        if unknown:
            raise TypeError(f"subset() got unknown options {sorted(unknown)}; allowed: {self._OPTION_NAMES}")
        num_samples = self.get_samples_number()
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < num_samples]
        if bad:
            raise IndexError(f"subset indices out of range [0, {num_samples}): {bad[:5]}")
        new = copy.copy(self)
        new.dataset_samples = [self.dataset_samples[i] for i in indices]
        new.skipped = []
        new.samples_precomputed_scores = None
        if self.samples_precomputed_scores is not None:
            logger.warning("subset(): sample scores refer to the full dataset and are dropped")
        for name, value in options.items():
            setattr(new, name, value)
        if "points_sampler" not in options:
            new.points_sampler = copy.deepcopy(self.points_sampler)
        new.rng = np.random.default_rng(self.rng.integers(2 ** 63))
        return new

    def split(self, val_fraction: float, seed: int = 0, **val_options: Any) -> tuple[ISDataset, ISDataset]:
        """Seeded random (train, val) split of the samples.

        Args:
            val_fraction: share of samples in the validation part, in [0, 1].
            seed: permutation seed; the same seed always gives the same split.
            **val_options: options for the validation subset (see :meth:`subset`), e.g. a
                deterministic ``augmentator``.

        Raises:
            ValueError: ``val_fraction`` outside [0, 1].
        """
        if not 0.0 <= val_fraction <= 1.0:
            raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
        train_idx, val_idx = split_indices(self.get_samples_number(), val_fraction, seed)
        return self.subset(train_idx), self.subset(val_idx, **val_options)

    # ------------------------------------------------------------------ scores
    @staticmethod
    def _load_samples_scores(path: str | Path | None, gamma: float) -> dict[str, np.ndarray] | None:
        if path is None:
            return None
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"samples scores file not found: {path} (expected RITM's pickle of "
                                    f"(index, _, score) tuples or a JSON list of them)")
        if path.suffix.lower() == ".json":
            scores = json.loads(path.read_text())
        else:
            with open(path, "rb") as f:
                scores = pickle.load(f)  # noqa: S301 - RITM's format; documented as trusted-only
        try:
            indices = np.array([int(x[0]) for x in scores])
            probs = np.array([(1.0 - float(x[2])) ** gamma for x in scores], dtype=np.float64)
        except (TypeError, IndexError, ValueError) as exc:
            raise ValueError(f"samples scores file {path}: expected (index, _, score) entries ({exc})") from exc
        if probs.sum() <= 0 or not math.isfinite(probs.sum()):
            raise ValueError(f"samples scores file {path}: weights (1 - score) ** gamma sum to {probs.sum()}")
        logger.info("loaded %d sample weights with gamma=%s from %s", len(probs), gamma, path)
        return {"indices": indices, "probs": probs / probs.sum()}


def _has_object_pixels(sample: DSample) -> bool:
    sample.remove_small_objects(1)
    return len(sample) > 0


def split_indices(num_samples: int, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Seeded split of ``range(num_samples)`` into sorted (train, val) index lists.

    ``round(num_samples * val_fraction)`` samples go to val (at least 1 when val_fraction > 0
    and there are >= 2 samples).
    """
    num_val = int(round(num_samples * val_fraction))
    if val_fraction > 0 and num_samples >= 2:
        num_val = min(max(num_val, 1), num_samples - 1) if val_fraction < 1 else num_samples
    order = np.random.default_rng(seed).permutation(num_samples)
    val = sorted(order[:num_val].tolist())
    train = sorted(order[num_val:].tolist())
    return train, val
