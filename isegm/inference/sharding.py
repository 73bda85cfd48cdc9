"""Sharded NoC evaluation: the samples of a dataset split over the ranks of a ``torchrun`` job.

Rank ``r`` of ``W`` evaluates the dataset indices ``r, r + W, r + 2W, ...``; the per-sample results of all
ranks are gathered and merged back into dataset order, so that every rank holds exactly what one process
would have computed (same records, same per-click IoUs, same NoC / NoF / mIoU), and rank 0 writes the one
table and json. Timing is the exception: each rank times its own loop. The merged ``elapsed_time`` is the
sum over the ranks (process-seconds, so SPC stays the seconds one process spends per click and compares
with a one-process run) and ``wall_time`` the longest rank's loop.

Works with any ``torch.distributed`` backend (NCCL on GPUs, gloo for CPU processes); without an initialised
process group everything is one shard and nothing is gathered.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Shard", "current_shard", "merge_shard_results", "gather_dataset_results"]


@dataclass(frozen=True)
class Shard:
    """One rank's share of the samples.

    Args:
        rank: this process's rank, ``0 <= rank < world_size``.
        world_size: number of ranks (>= 1).

    Raises:
        ValueError: ``world_size < 1`` or ``rank`` outside ``[0, world_size)``.
    """
    rank: int = 0
    world_size: int = 1

    def __post_init__(self):
        if int(self.world_size) < 1 or not 0 <= int(self.rank) < int(self.world_size):
            raise ValueError(f"shard rank {self.rank} of world size {self.world_size}: expected "
                             f"0 <= rank < world_size and world_size >= 1")

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that prints and writes."""
        return self.rank == 0

    def indices(self, n: int) -> range:
        """This rank's dataset indices among ``0 .. n-1`` (round robin: ``rank, rank + W, ...``)."""
        return range(self.rank, int(n), self.world_size)


def current_shard() -> Shard:
    """The shard of this process: from the initialised ``torch.distributed`` process group, else ``Shard()``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size())
    return Shard()


def merge_shard_results(parts: Sequence[tuple]) -> tuple:
    """Merge the ranks' ``evaluate_dataset`` results into the one-process result.

    Args:
        parts: per rank ``(all_ious, elapsed_time, records)`` as
            :func:`isegm.inference.evaluation.evaluate_dataset` returns them (``all_ious``: per evaluated
            sample a (n_i,) float32 array, in the order of that rank's evaluated records).

    Returns:
        ``(all_ious, elapsed_time, records, wall_time)``: records of all ranks sorted by dataset index,
        ``all_ious`` in the same order (evaluated samples only), ``elapsed_time`` the sum of the ranks' loop
        times (seconds), ``wall_time`` the longest (seconds).

    Raises:
        ValueError: a dataset index appears in two parts, or a part's IoU arrays do not match its evaluated
            records.
    """
    keyed = []
    for all_ious, _, records in parts:
        evaluated = [r for r in records if not r["skipped"]]
        if len(evaluated) != len(all_ious):
            raise ValueError(f"shard results: {len(all_ious)} IoU arrays for {len(evaluated)} evaluated records")
        ious = iter(all_ious)
        keyed += [(r["index"], r, None if r["skipped"] else next(ious)) for r in records]
    keyed.sort(key=lambda item: item[0])
    indices = [k for k, _, _ in keyed]
    if len(set(indices)) != len(indices):
        raise ValueError("shard results: a dataset index was evaluated by two ranks")
    records = [r for _, r, _ in keyed]
    all_ious = [np.asarray(i, dtype=np.float32) for _, r, i in keyed if i is not None]
    times = [float(t) for _, t, _ in parts]
    return all_ious, float(sum(times)), records, float(max(times) if times else 0.0)


def gather_dataset_results(all_ious, elapsed_time: float, records, shard: Shard) -> tuple:
    """All ranks' results of one dataset run, merged (:func:`merge_shard_results`), on every rank.

    With one shard it returns the inputs unchanged (``wall_time`` = ``elapsed_time``); otherwise it runs
    ``torch.distributed.all_gather_object`` (every rank must call it, in the same order).
    """
    if shard.world_size == 1:
        return list(all_ious), float(elapsed_time), list(records), float(elapsed_time)
    import torch.distributed as dist

    gathered = [None] * shard.world_size
    dist.all_gather_object(gathered, ([np.asarray(i, np.float32) for i in all_ious], float(elapsed_time),
                                      list(records)))
    return merge_shard_results(gathered)
