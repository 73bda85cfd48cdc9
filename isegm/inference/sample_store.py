"""Finished samples of a long evaluation kept on disk, so that a stopped run continues where it stopped.

A comparison of several predictors on GrabCut and Berkeley can take hours on a CPU (classic GrabCut alone
~5 s per click), longer than one sitting. :class:`SampleStore` keeps one run's (one predictor on one
dataset) finished samples in a JSON-lines file: a header line with the run's settings, then one line per
finished sample with its :func:`~isegm.inference.evaluation.evaluate_dataset` record, per-click IoUs and
seconds. Every line is flushed and ``fsync``-ed as soon as the sample ends, so a kill loses at most the
sample in progress; a last line cut short by the kill is dropped when the file is opened again.

:func:`evaluate_with_store` evaluates the samples the store lacks, one at a time, and merges stored and new
ones in dataset order (:func:`~isegm.inference.sharding.merge_shard_results`): the result equals an
uninterrupted run (every predictor here is deterministic, and the stochastic clicks are seeded per
sample), except for the seconds, which are those each sample took when it ran. A store written with other
settings is refused (one line naming the file and the settings that differ), and so is reusing a store
without asking for it (``resume=False``), so that an earlier run is never overwritten or mixed in silently.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from isegm.errors import UserError
from isegm.io import to_plain

__all__ = ["SampleStore", "IndexSubset", "evaluate_with_store", "run_settings"]

FORMAT = "isegm.sample_store"
VERSION = 1


def run_settings(dataset_name: str, dataset, checkpoint, device, **settings) -> dict:
    """The settings a store is keyed by: ``settings`` plus the dataset's name and size, the checkpoint path and
    its sha256 (None when it is not a file, e.g. GrabCut's label) and the device type.

    Args:
        dataset_name, dataset: the registry name and the dataset (``len`` is taken).
        checkpoint: path or label ('' for none).
        device: torch device or its name.
        **settings: plain-data run settings (clicks, threshold, stochastic spec, ...).
    """
    import torch

    from isegm.io import file_sha256

    path = Path(checkpoint) if checkpoint else None
    return dict(settings, dataset=dataset_name, dataset_size=len(dataset), checkpoint=str(checkpoint or ""),
                checkpoint_sha256=file_sha256(path) if path is not None and path.is_file() else None,
                device=torch.device(device).type)


class IndexSubset:
    """The dataset indices to evaluate, for ``evaluate_dataset(..., shard=IndexSubset([...]))``.

    Args:
        indices: dataset indices (ints >= 0); those >= the dataset's evaluated length are left out.
    """

    def __init__(self, indices):
        self._indices = sorted({int(i) for i in indices})

    def indices(self, n: int) -> list:
        return [i for i in self._indices if i < int(n)]


class SampleStore:
    """One run's finished samples in a JSON-lines file (see the module docstring).

    Args:
        path: the ``.jsonl`` file (its folder is created).
        settings: plain-data description of the run (model, checkpoint sha256, dataset, clicks, threshold,
            ...); a stored file must have been written with equal settings.
        resume: reuse the samples of an existing file; False refuses an existing file.

    Raises:
        UserError: the file exists and ``resume`` is False; the file is not a sample store, or was written
            with other settings (the differing keys are named), or a line before the last is broken.
    """

    def __init__(self, path, settings: Mapping, resume: bool = False):
        self.path = Path(path)
        self.settings = to_plain(dict(settings))
        self._parts = {}
        if self.path.exists():
            if not resume:
                raise UserError(f"{self.path} holds samples of an earlier run: pass --resume to continue it, or "
                                f"choose another output folder")
            self._load()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            header = json.dumps({"format": FORMAT, "version": VERSION, "settings": self.settings}) + "\n"
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(header)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)

    def _load(self):
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]   # tail: what follows the last newline ('' when none is cut)
        if not complete:
            raise UserError(f"{self.path}: not a sample store (no header line)")
        try:
            header = json.loads(complete[0])
        except ValueError:
            raise UserError(f"{self.path}: not a sample store (its first line is not JSON)") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise UserError(f"{self.path}: not a sample store (format {header.get('format') if isinstance(header, dict) else None!r}, "
                            f"expected {FORMAT!r})")
        stored = header.get("settings") or {}
        if stored != self.settings:
            keys = sorted(k for k in set(stored) | set(self.settings) if stored.get(k) != self.settings.get(k))
            diffs = "; ".join(f"{k}: stored {stored.get(k)!r:.60}, now {self.settings.get(k)!r:.60}" for k in keys)
            raise UserError(f"{self.path} was written with other settings ({diffs}): use another output folder")
        for number, line in enumerate(complete[1:], start=2):
            try:
                entry = json.loads(line)
                index = int(entry["index"])
                record = entry["record"]
                ious = None if entry["ious"] is None else np.asarray(entry["ious"], dtype=np.float32)
                seconds = float(entry["seconds"])
            except (ValueError, KeyError, TypeError):
                raise UserError(f"{self.path}: line {number} is not a finished sample") from None
            self._parts[index] = ([] if ious is None else [ious], seconds, [record])
        if tail:   # a sample cut short by a kill: drop it so that the next append starts on a fresh line
            with open(self.path, "r+b") as f:
                f.truncate(len(raw) - len(tail))
                f.flush()
                os.fsync(f.fileno())

    def __contains__(self, index) -> bool:
        return int(index) in self._parts

    def __len__(self) -> int:
        return len(self._parts)

    def part(self, index: int) -> tuple:
        """``(all_ious, seconds, records)`` of one stored sample, as ``evaluate_dataset`` returns them."""
        return self._parts[int(index)]

    def add(self, index: int, all_ious, seconds: float, records) -> None:
        """Append one finished sample (flushed and fsync-ed before returning).

        Args:
            index: its dataset index.
            all_ious, seconds, records: ``evaluate_dataset``'s result for that one index (``all_ious``: [] when
                the sample was skipped, else one (n_clicks,) array; ``records``: one record).

        Raises:
            ValueError: not exactly one record, or one record with its IoUs missing.
        """
        if len(records) != 1 or len(all_ious) != (0 if records[0].get("skipped") else 1):
            raise ValueError(f"sample store: expected one sample's result, got {len(records)} records and "
                             f"{len(all_ious)} IoU arrays")
        ious = [float(x) for x in np.asarray(all_ious[0]).ravel()] if all_ious else None
        line = json.dumps(to_plain({"index": int(index), "record": records[0], "ious": ious,
                                    "seconds": float(seconds)}), allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        stored = json.loads(line)   # keep what a resumed run reads back, so both runs hold the same values
        self._parts[int(index)] = ([] if ious is None else [np.asarray(ious, dtype=np.float32)], float(seconds),
                                   [stored["record"]])


def evaluate_with_store(dataset, predictor, store: Optional[SampleStore], *, max_samples: Optional[int] = None,
                        progress: bool = True, **kwargs) -> tuple:
    """:func:`~isegm.inference.evaluation.evaluate_dataset` over the first ``max_samples`` indices, taking the
    samples ``store`` holds from it and appending every new one to it as soon as it ends.

    Args:
        dataset, predictor, max_samples, progress, **kwargs: as ``evaluate_dataset`` (not ``shard``).
        store: a :class:`SampleStore`, or None to evaluate everything in one call (nothing kept).

    Returns:
        ``(all_ious, elapsed_time, records)`` as ``evaluate_dataset``; ``elapsed_time`` is the sum of the
        samples' seconds (stored ones as they ran).
    """
    from tqdm import tqdm

    from isegm.inference.evaluation import evaluate_dataset
    from isegm.inference.sharding import merge_shard_results

    if store is None:
        return evaluate_dataset(dataset, predictor, progress=progress, max_samples=max_samples, **kwargs)
    n = len(dataset) if max_samples is None else min(len(dataset), int(max_samples))
    parts = []
    for index in tqdm(range(n), leave=False, disable=not progress):
        if index not in store:
            all_ious, seconds, records = evaluate_dataset(dataset, predictor, progress=False, max_samples=n,
                                                          shard=IndexSubset([index]), **kwargs)
            store.add(index, all_ious, seconds, records)
        parts.append(store.part(index))
    all_ious, elapsed, records, _ = merge_shard_results(parts)
    return all_ious, elapsed, records
