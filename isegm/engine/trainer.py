"""The training loop for click-based models with iterative mask training (IT-M).

Read top to bottom: :meth:`ISTrainer.run` alternates :meth:`train_epoch` and :meth:`validate`;
both call :meth:`batch_forward`, which is where the RITM recipe lives:

1. the batch arrives with clicks from the multi-point sampler;
2. IT-M (Sofiiuk et al. 2021, sec. 3.2): for a random number of iterations in
   ``[0, max_num_next_clicks]`` the network predicts without gradient, and a new click is placed
   on the largest error with the same rule the evaluation clicker uses
   (:func:`isegm.inference.clicker.add_next_points`); the prediction is fed back as the previous mask;
3. a final forward with gradient; losses (NFL on the main output, BCE on the auxiliary one).

With ``TrainerSettings.icl_weights`` set, training uses the iterative click loss instead (ICL, Sun et
al., "CFR-ICL", AAAI 2024; see :meth:`ISTrainer._icl_forward`): every iteration is a forward with
gradient in training mode and contributes its loss, weighted; validation keeps RITM's IT-M so that
held-out figures compare across runs with and without ICL.

Checkpoints (RITM's format, loadable with :func:`isegm.model.load_is_model`) are written after every
epoch as ``last_checkpoint.pth`` (with optimizer state, for ``--resume-exp``), every
``checkpoint_interval`` epochs as ``NNN.pth``, and ``best_checkpoint.pth`` when the validation
metric improves.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from isegm.engine.optimizer import get_optimizer
from isegm.engine.sync_bn import convert_sync_batchnorm
from isegm.errors import UserError
from isegm.inference.clicker import add_next_points
from isegm.model.checkpoint import save_is_model
from isegm.model.metrics import AdaptiveIoU
from isegm.model.modeling.dropout import per_sample_dropout
from isegm.utils.exp import ExpPaths
from isegm.utils.log import TqdmToLogger

logger = logging.getLogger(__name__)


@dataclass
class LossSpec:
    """A loss applied to one model output against the ground-truth instances."""
    output: str                 # key of the model's output dict: 'instances' or 'instances_aux'
    loss: nn.Module
    weight: float = 1.0


@dataclass
class TrainerSettings:
    """Plain settings of a training run (everything but the model, data and losses)."""
    batch_size: int = 32
    val_batch_size: int | None = None
    workers: int = 4
    optimizer: str = "adam"
    lr: float = 5e-4
    optimizer_params: dict = field(default_factory=dict)  # over isegm.engine.optimizer.OPTIMIZER_DEFAULTS
    max_num_next_clicks: int = 3
    prev_mask_drop_prob: float = 0.0
    pred_thresh: float = 0.49
    checkpoint_interval: int | Sequence[tuple[int, int]] = 5
    image_dump_interval: int = -1
    tb_dump_period: int = 25
    seed: int = 0
    best_metric: str = "AdaptiveIoU"       # validation quantity that selects best_checkpoint.pth
    amp: str = "none"                      # mixed precision: "none", "bf16" (CPU or CUDA) or "fp16" (CUDA)
    sync_bn: bool = True                   # under torchrun: BatchNorm statistics over the global batch
    channels_last: bool = False            # NHWC memory layout (faster convolutions on CPU and tensor cores)
    icl_weights: tuple[float, ...] | None = None  # iterative click loss, one weight per iteration; None/() = IT-M


def check_icl_weights(weights, max_num_next_clicks: int, name: str = "icl_weights") -> tuple[float, ...] | None:
    """Validate iterative-click-loss weights (CFR-ICL, Sun et al. 2024); returns them as floats, or None (off).

    Args:
        weights: None or an empty sequence (off: RITM's IT-M), or one weight per iteration, e.g. CFR-ICL's
            ``(1, 2, 3)``: finite numbers >= 0, not all 0, as many as ``max_num_next_clicks`` (the number of
            forward passes drawn per batch is in ``[1, len(weights)]``, as CFR-ICL draws it in
            ``[1, max_num_next_clicks]``).
        max_num_next_clicks: the IT-M setting the weights go with.
        name: how the error names the value (the recipe field).

    Raises:
        ValueError: one line naming ``name`` and what was expected.
    """
    if weights is None:
        return None
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise ValueError(f"{name} must be a sequence of weights, one per IT-M iteration, e.g. (1, 2, 3); "
                         f"got {weights!r}")
    if len(weights) == 0:
        return None
    values = []
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(w)) or float(w) < 0:
            raise ValueError(f"{name} must hold finite numbers >= 0, got {tuple(weights)!r}")
        values.append(float(w))
    if not any(values):
        raise ValueError(f"{name} {tuple(weights)!r} are all 0: no iteration would have a loss; "
                         f"use None to train with RITM's IT-M")
    if len(values) != max_num_next_clicks:
        raise ValueError(f"{name} has {len(values)} weights but max_num_next_clicks is {max_num_next_clicks}: "
                         f"expected one weight per IT-M iteration")
    return tuple(values)


AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _interval_at(interval, epoch: int) -> int:
    if isinstance(interval, int):
        return interval
    return [step for start, step in interval if start <= epoch][-1]


class ISTrainer:
    """Trains an interactive segmentation model.

    Args:
        model: an ISModel (see :mod:`isegm.model`); with ``with_prev_mask`` the previous
            prediction is fed as a fourth input channel.
        trainset, valset: datasets whose items are dicts ``images (3, H, W) float32 in [0, 1]``,
            ``points (2N, 3) float32`` (y, x, order; positives first, (-1, -1, -1) padding),
            ``instances (1, H, W) float32`` in {0, 1} (-1 = ignore).
        losses: loss specifications; a spec whose output the model lacks is skipped.
        settings: :class:`TrainerSettings`.
        exp: run folders (:class:`isegm.utils.exp.ExpPaths`).
        device: where to train.
        lr_scheduler: callable ``optimizer -> scheduler`` stepped once per epoch, or None.
        meta: plain data stored in every checkpoint (command line, recipe name ...).
        distributed: wrap in DistributedDataParallel (torch.distributed already initialised).
    """

    def __init__(self, model: nn.Module, trainset: Dataset, valset: Dataset | None, losses: Sequence[LossSpec],
                 settings: TrainerSettings, exp: ExpPaths, device: torch.device,
                 lr_scheduler: Callable | None = None, meta: dict | None = None, distributed: bool = False):
        self.settings = settings
        self.exp = exp
        self.device = torch.device(device)
        self.meta = dict(meta or {})
        self.losses = list(losses)
        self.distributed = distributed
        self.rank = dist.get_rank() if distributed else 0
        self.world_size = dist.get_world_size() if distributed else 1

        if settings.amp not in AMP_DTYPES:
            raise ValueError(f"amp must be one of {sorted(AMP_DTYPES)}, got {settings.amp!r}")
        if settings.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("amp='fp16' needs a CUDA device; use amp='bf16' on the CPU")
        self.amp_dtype = AMP_DTYPES[settings.amp]
        self.icl_weights = check_icl_weights(settings.icl_weights, settings.max_num_next_clicks)
        self.scaler = torch.amp.GradScaler("cuda") if settings.amp == "fp16" else None
        self.model = model.to(self.device)
        if settings.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net = self.model
        if distributed:
            if settings.sync_bn and self.world_size > 1:
                self.model = convert_sync_batchnorm(self.model, self.device)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

        pin = self.device.type == "cuda"
        if settings.batch_size % self.world_size:
            raise UserError(f"batch size {settings.batch_size} is not divisible by the {self.world_size} "
                             f"processes; pass a --batch-size that is a multiple of it")
        batch = settings.batch_size // self.world_size
        self.train_sampler = EpochPermutationSampler(len(trainset), settings.batch_size, settings.seed,
                                                     rank=self.rank, world_size=self.world_size)
        if self.train_sampler.dropped:
            logger.info("%d of %d training samples do not fill a global batch of %d and are left out of "
                        "each epoch (a different %d each epoch: the permutation changes)", self.train_sampler.dropped,
                        len(trainset), settings.batch_size, self.train_sampler.dropped)
        self.trainset = trainset
        # Workers are not persistent: each epoch they get the dataset with that epoch's item seeding.
        self.train_loader = DataLoader(
            trainset, batch_size=batch, shuffle=False, sampler=self.train_sampler, drop_last=True,
            num_workers=settings.workers, pin_memory=pin, worker_init_fn=_seed_worker)
        if len(self.train_loader) == 0:
            raise ValueError(f"training set of {len(trainset)} samples gives no full batch of {settings.batch_size}: "
                             f"lower --batch-size")
        self.val_loader = None
        if valset is not None and len(valset) > 0:
            val_batch = max(1, (settings.val_batch_size or settings.batch_size) // self.world_size)
            # every validation sample exactly once over the ranks (DistributedSampler would repeat some)
            val_sampler = list(range(self.rank, len(valset), self.world_size)) if distributed else None
            self.val_generator = torch.Generator()
            if hasattr(valset, "set_item_seeding"):
                valset.set_item_seeding(settings.seed + 12345, 0)   # the same crops and clicks every epoch
            self.val_loader = DataLoader(valset, batch_size=min(val_batch, len(valset)), shuffle=False,
                                         sampler=val_sampler, drop_last=False, num_workers=settings.workers,
                                         pin_memory=pin, worker_init_fn=_seed_worker,
                                         generator=self.val_generator)

        self.optim = get_optimizer(self.model, settings.optimizer, settings.lr, **settings.optimizer_params)
        self.scheduler = lr_scheduler(self.optim) if lr_scheduler is not None else None
        self.train_metric = AdaptiveIoU()
        self.val_metric = AdaptiveIoU()
        if distributed:
            self.train_metric.reduce = self.val_metric.reduce = _all_reduce_sum
        self.best_value = -math.inf
        self.start_epoch = 0
        self.sw = None

    @property
    def is_master(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------ loop
    def run(self, num_epochs: int, validation: bool = True) -> dict:
        """Train from ``self.start_epoch`` up to ``num_epochs`` (exclusive); returns the last epoch's stats."""
        if self.is_master:
            from torch.utils.tensorboard import SummaryWriter
            self.sw = SummaryWriter(log_dir=str(self.exp.logs), flush_secs=10)
            logger.info("training %d samples/epoch (%d batches), validating on %s samples, epochs %d..%d",
                        len(self.train_loader.dataset), len(self.train_loader),
                        len(self.val_loader.dataset) if self.val_loader else 0, self.start_epoch, num_epochs - 1)
        stats = {}
        for epoch in range(self.start_epoch, num_epochs):
            stats = self.train_epoch(epoch)
            if validation and self.val_loader is not None:
                stats.update(self.validate(epoch))
            if self.scheduler is not None:
                self.scheduler.step()
            if self.is_master:
                self.save_checkpoints(epoch, stats)
                logger.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4f}" for k, v in stats.items()))
        if self.sw is not None:
            self.sw.close()
        return stats

    def train_epoch(self, epoch: int) -> dict:
        """One epoch. Its data order, augmentations and clicks depend only on (seed, epoch, index)."""
        self.train_sampler.set_epoch(epoch)
        if hasattr(self.trainset, "set_item_seeding"):
            self.trainset.set_item_seeding(self.settings.seed, epoch)
        self.net.train()
        self.train_metric.reset_epoch_stats()
        total, count, images, start = 0.0, 0, 0, time.perf_counter()
        bar = self._progress(self.train_loader, f"Epoch {epoch}")
        per_rank = self.train_sampler.per_rank
        for i, batch in enumerate(bar):
            step = epoch * len(self.train_loader) + i
            # IT-M's random draws: the number of clicks from (seed, epoch, batch), each sample's clicks from
            # (seed, epoch, its position in the global batch order): the same whatever the number of processes
            first = i * self.settings.batch_size + self.rank * per_rank
            rngs = _rngs(self.settings.seed, 0, epoch, i, range(first, first + batch["images"].shape[0]))
            loss, parts, batch, outputs = self.batch_forward(batch, validation=False, rngs=rngs)
            self.optim.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optim)
                self.scaler.update()
            else:
                loss.backward()
                self.optim.step()

            total += float(loss.detach())
            count += 1
            images += batch["images"].shape[0]
            if self.is_master:
                bar.set_description(f"Epoch {epoch}, loss {total / count:.4f}, "
                                    f"IoU {self.train_metric.get_epoch_value():.3f}", refresh=False)
                if step % self.settings.tb_dump_period == 0:
                    self.sw.add_scalar("TrainLosses/overall", float(loss.detach()), step)
                    for name, value in parts.items():
                        self.sw.add_scalar(f"TrainLosses/{name}", value, step)
                    self.sw.add_scalar("TrainStates/learning_rate", self.optim.param_groups[-1]["lr"], step)
                    self.sw.add_scalar("TrainMetrics/AdaptiveIoU_ema", self.train_metric.ema_iou, step)
                if self.settings.image_dump_interval > 0 and step % self.settings.image_dump_interval == 0:
                    self.save_visualization(batch, outputs, step)
        elapsed = time.perf_counter() - start
        if self.distributed:   # the mean over the global batches, as one process would log it
            total = _all_reduce_sum(torch.tensor([total], dtype=torch.float64)).item() / self.world_size
        stats = {"train_loss": total / max(count, 1), "train_iou": self.train_metric.get_epoch_value(),
                 "train_images_per_s": images * self.world_size / max(elapsed, 1e-9)}
        if self.is_master:
            self.sw.add_scalar("TrainMetrics/AdaptiveIoU", stats["train_iou"], epoch)
            self.sw.add_scalar("TrainStates/images_per_second", stats["train_images_per_s"], epoch)
        return stats

    @torch.no_grad()
    def validate(self, epoch: int) -> dict:
        self.net.eval()
        self.val_metric.reset_epoch_stats()
        # The same crops and clicks every epoch, so validation figures are comparable across epochs.
        self.val_generator.manual_seed(self.settings.seed + 12345)
        sums, count, seen = defaultdict(float), 0, 0
        for k, batch in enumerate(self._progress(self.val_loader, f"Epoch {epoch} validation")):
            n = batch["images"].shape[0]
            # sample positions in the validation order (rank r holds positions r, r + W, ...)
            positions = [self.rank + self.world_size * (seen + j) for j in range(n)]
            loss, parts, _, _ = self.batch_forward(batch, validation=True,
                                                   rngs=_rngs(self.settings.seed, 1, 0, k, positions))
            sums["val_loss"] += float(loss) * n
            for name, value in parts.items():
                sums[f"val_{name}"] += value * n
            count += n
            seen += n
        sums["val_iou"] = self.val_metric.epoch_iou_sum
        iou_batches = self.val_metric.epoch_batch_count
        if self.distributed:
            # sums and counts over ranks, not a mean of per-rank means
            keys = sorted(sums)
            t = torch.tensor([sums[k] for k in keys] + [count, iou_batches], dtype=torch.float64)
            dist.all_reduce(t)
            sums = dict(zip(keys, t[:len(keys)].tolist()))
            count, iou_batches = int(t[-2]), int(t[-1])
        stats = {k: v / max(count, 1) for k, v in sums.items() if k != "val_iou"}
        stats["val_iou"] = sums["val_iou"] / max(iou_batches, 1)
        if self.is_master:
            for name, value in stats.items():
                self.sw.add_scalar(f"Val/{name}", value, epoch)
        return stats

    # ------------------------------------------------------------------ one batch
    def batch_forward(self, batch: dict, validation: bool = False, rngs=None):
        """Run IT-M clicks and the final forward pass on one batch; returns (loss, parts, batch, outputs).

        ``rngs``: ``(batch_rng, [sample_rng, ...])`` numpy Generators: the batch's draws (number of IT-M
        clicks) and each sample's (click positions, previous-mask drop); default: seeded from
        ``settings.seed`` alone.

        With ``settings.icl_weights`` (and not ``validation``) this is :meth:`_icl_forward`; ``outputs``
        are then the last iteration's. A batch with ``'prev_masks'`` (mask refinement items, see
        :class:`isegm.data.base.ISDataset`) is predicted once from that previous mask, without IT-M clicks.
        """
        if rngs is None:
            rngs = _rngs(self.settings.seed, 2, 0, 0, range(batch["images"].shape[0]))
        batch_rng, sample_rngs = rngs
        batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        image, gt, points = batch["images"], batch["instances"], batch["points"]
        if self.settings.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        if self.icl_weights and not validation:
            if "prev_masks" in batch:
                raise ValueError("ICL and mask refinement do not combine (refinement items have no IT-M clicks)")
            return self._icl_forward(batch, image, gt, points, batch_rng, sample_rngs)
        model = self.model
        refining = "prev_masks" in batch  # mask refinement: correct a given initial mask from its strokes
        if refining and not model.with_prev_mask:
            raise ValueError(f"mask refinement needs a model with a previous-mask input; {type(model).__name__} "
                             f"has none (use an *_itermask model)")
        prev = batch["prev_masks"].to(image.dtype) if refining else torch.zeros_like(image[:, :1])

        with torch.no_grad():
            num_iters = int(batch_rng.integers(0, self.settings.max_num_next_clicks + 1))
            if refining:
                num_iters = 0
            if num_iters:
                was_training = self.net.training
                self.net.eval()
                for _ in range(num_iters):
                    net_input = torch.cat((image, prev), dim=1) if model.with_prev_mask else image
                    with self._autocast():
                        logits = self.net(net_input, points)["instances"]
                    prev = torch.sigmoid(logits.float())
                    points = add_next_points(prev, gt, points, pred_thresh=self.settings.pred_thresh,
                                             rng=sample_rngs)
                self.net.train(was_training)
                if model.with_prev_mask and self.settings.prev_mask_drop_prob > 0:
                    drop = torch.from_numpy(np.array([r.random() < self.settings.prev_mask_drop_prob
                                                      for r in sample_rngs]))
                    prev[drop.to(prev.device)] = 0.0
        batch["points"] = points

        with torch.set_grad_enabled(not validation):
            net_input = torch.cat((image, prev), dim=1) if model.with_prev_mask else image
            dropout_seeds = [int(r.integers(2 ** 63)) for r in sample_rngs]
            with self._autocast(), per_sample_dropout(dropout_seeds):
                outputs = self.net(net_input, points)
            outputs = {k: v.float() for k, v in outputs.items()}
            loss = image.new_zeros(())
            parts = {}
            for spec in self.losses:
                if spec.weight <= 0 or spec.output not in outputs:
                    continue
                value = spec.loss(outputs[spec.output], gt).mean()
                parts[f"{spec.output}_loss"] = float(value.detach())
                loss = loss + spec.weight * value
        metric = self.val_metric if validation else self.train_metric
        metric.update(outputs["instances"].detach(), gt)
        return loss, parts, batch, outputs

    def _icl_forward(self, batch: dict, image, gt, points, batch_rng, sample_rngs):
        """Iterative click loss (ICL; Sun et al., "CFR-ICL", AAAI 2024, its trainer's ``use_iterloss``).

        ``n`` forward passes, ``n`` drawn from the batch generator in ``[1, len(icl_weights)]``; all with
        gradient and in training mode (dropout, BatchNorm batch statistics: synchronised under torchrun).
        Pass ``k`` (0-based) sees the clicks so far and the previous pass's probabilities, detached (zeros
        for the first), so no gradient flows from one pass into another; its losses (every
        :class:`LossSpec` on its own output) are weighted by ``icl_weights[k]`` and summed, not normalised
        (CFR-ICL sums them). Between passes (not after the last) one click per sample goes on the largest
        error, as in IT-M, and with ``prev_mask_drop_prob`` each sample's previous mask is zeroed with that
        probability. Draws: the number of passes from ``batch_rng``; clicks, drops and dropout seeds from
        each sample's generator, so the result does not depend on the batch split over processes.

        Returns (loss, parts, batch, outputs) like :meth:`batch_forward`; ``parts`` holds the last pass's
        unweighted losses under RITM's names and every pass's as ``<output>_loss_it<k>``.
        """
        weights = self.icl_weights
        model = self.model
        num_passes = int(batch_rng.integers(1, len(weights) + 1))
        prev = torch.zeros_like(image[:, :1])
        loss = image.new_zeros(())
        parts = {}
        outputs = {}
        for k in range(num_passes):
            if k:
                points = add_next_points(prev, gt, points, pred_thresh=self.settings.pred_thresh, rng=sample_rngs)
                if model.with_prev_mask and self.settings.prev_mask_drop_prob > 0:
                    drop = torch.from_numpy(np.array([r.random() < self.settings.prev_mask_drop_prob
                                                      for r in sample_rngs]))
                    prev[drop.to(prev.device)] = 0.0
            net_input = torch.cat((image, prev), dim=1) if model.with_prev_mask else image
            dropout_seeds = [int(r.integers(2 ** 63)) for r in sample_rngs]
            with self._autocast(), per_sample_dropout(dropout_seeds):
                outputs = self.net(net_input, points)
            outputs = {name: v.float() for name, v in outputs.items()}
            for spec in self.losses:
                if spec.weight <= 0 or spec.output not in outputs:
                    continue
                value = spec.loss(outputs[spec.output], gt).mean()
                parts[f"{spec.output}_loss"] = parts[f"{spec.output}_loss_it{k}"] = float(value.detach())
                loss = loss + weights[k] * spec.weight * value
            # the next pass's previous mask: a constant (CFR-ICL feeds prev_output.detach())
            prev = torch.sigmoid(outputs["instances"].detach())
        batch["points"] = points
        self.train_metric.update(outputs["instances"].detach(), gt)
        return loss, parts, batch, outputs

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def _progress(self, loader, desc: str):
        if not self.is_master:
            return loader
        return tqdm(loader, desc=desc, ncols=110, file=TqdmToLogger(logger) if not os.isatty(2) else None,
                    mininterval=5.0 if not os.isatty(2) else 0.5)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoints(self, epoch: int, stats: dict) -> None:
        meta = dict(self.meta, epoch=epoch, stats={k: float(v) for k, v in stats.items()})
        ckpt = self.exp.checkpoints
        if epoch % _interval_at(self.settings.checkpoint_interval, epoch) == 0:
            save_is_model(self.model, ckpt / f"{epoch:03d}.pth", meta=meta)
        key = "val_iou" if self.settings.best_metric == "AdaptiveIoU" else self.settings.best_metric
        value = stats.get(key)
        if value is not None:
            higher_better = "loss" not in key
            score = value if higher_better else -value
            if score > self.best_value:
                self.best_value = score
                save_is_model(self.model, ckpt / "best_checkpoint.pth", meta=dict(meta, best_metric=key))
                logger.info("epoch %d: new best %s = %.4f -> best_checkpoint.pth", epoch, key, value)
        # Written last, with best_value already updated: a resumed run continues from exactly this state.
        save_is_model(self.model, ckpt / "last_checkpoint.pth", meta=meta, extra=self.training_state(epoch))

    def training_state(self, epoch: int) -> dict:
        return {"training_state": {
            "epoch": epoch,
            "optimizer": self.optim.state_dict(),
            "lr_scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "best_value": self.best_value,
            "torch_rng": torch.get_rng_state(),
            "seed": self.settings.seed,
            # AdaptiveIoU carries its threshold and EMA from epoch to epoch
            "metrics": {name: {"iou_thresh": float(m.iou_thresh), "ema_iou": float(m.ema_iou)}
                        for name, m in (("train", self.train_metric), ("val", self.val_metric))},
        }}

    def resume(self, checkpoint: dict, start_epoch: int | None = None) -> None:
        """Restore optimizer, schedule and epoch from a loaded ``last_checkpoint.pth`` dict.

        The model weights are loaded by the caller (through :func:`isegm.model.load_is_model` or
        ``load_state_dict``). Without a training state (a plain model checkpoint) only the epoch is set.
        """
        state = checkpoint.get("training_state")
        meta_epoch = checkpoint.get("meta", {}).get("epoch")
        if state is not None:
            self.optim.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state.get("lr_scheduler") is not None:
                self.scheduler.load_state_dict(state["lr_scheduler"])
            if self.scaler is not None and state.get("scaler") is not None:
                self.scaler.load_state_dict(state["scaler"])
            self.best_value = state.get("best_value", -math.inf)
            if state.get("torch_rng") is not None:
                torch.set_rng_state(state["torch_rng"])
            for name, m in (("train", self.train_metric), ("val", self.val_metric)):
                saved = (state.get("metrics") or {}).get(name)
                if saved:
                    m.iou_thresh, m.ema_iou = saved["iou_thresh"], saved["ema_iou"]
            meta_epoch = state["epoch"]
        if start_epoch is not None:
            self.start_epoch = start_epoch
        elif meta_epoch is not None:
            self.start_epoch = int(meta_epoch) + 1
        if self.scheduler is not None and state is None:
            for _ in range(self.start_epoch):
                self.scheduler.step()
        logger.info("resuming at epoch %d", self.start_epoch)

    def save_visualization(self, batch: dict, outputs: dict, step: int) -> None:
        import cv2

        from isegm.utils.vis import draw_points, draw_probmap
        image = (batch["images"][0, :3].detach().cpu().numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
        points = batch["points"][0].detach().cpu().numpy()
        n = points.shape[0] // 2
        vis = draw_points(image, points[:n], (0, 255, 0))
        vis = draw_points(vis, points[n:], (255, 0, 0))
        gt = batch["instances"][0, 0].detach().cpu().numpy().copy()
        gt[gt < 0] = 0.25
        pred = torch.sigmoid(outputs["instances"][0, 0]).detach().cpu().numpy()
        panel = np.hstack((vis, draw_probmap(gt), draw_probmap(pred))).astype(np.uint8)
        self.exp.vis.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(self.exp.vis / f"{step:06d}_instance_segmentation.jpg"), panel[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 85])


class EpochPermutationSampler(torch.utils.data.Sampler):
    """This rank's share of a global permutation that depends only on (seed, epoch).

    Global batch ``k`` is ``perm[k*B:(k+1)*B]``; rank ``r`` of ``W`` gets its ``r``-th slice of
    ``B // W`` indices, so the union of the ranks' batch ``k`` is the one-process batch ``k`` and no
    sample is seen twice. The ``len % B`` samples past the last full global batch are left out of that
    epoch (a different set each epoch; the trainer logs how many).

    Args:
        num_samples: dataset length. batch_size: global batch B (a multiple of world_size).
        seed: permutation seed. rank, world_size: this process and the number of processes.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.num_samples, self.batch_size, self.seed = int(num_samples), int(batch_size), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.per_rank = self.batch_size // self.world_size
        self.num_batches = self.num_samples // self.batch_size
        self.dropped = self.num_samples - self.num_batches * self.batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def permutation(self) -> list[int]:
        """The global order of this epoch (all ranks compute the same)."""
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]))
        return torch.randperm(self.num_samples, generator=g).tolist()

    def __iter__(self):
        perm = self.permutation()
        for k in range(self.num_batches):
            start = k * self.batch_size + self.rank * self.per_rank
            yield from perm[start:start + self.per_rank]

    def __len__(self) -> int:
        return self.num_batches * self.per_rank


def _rngs(seed: int, stream: int, epoch: int, batch_index: int, positions) -> tuple:
    """(batch Generator, [one Generator per sample position]) for IT-M; ``stream`` 0 = train, 1 = val."""
    batch_rng = np.random.default_rng([seed, 2 * stream, epoch, batch_index])
    return batch_rng, [np.random.default_rng([seed, 2 * stream + 1, epoch, int(p)]) for p in positions]


def _all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    dist.all_reduce(t)
    return t


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    import random
    random.seed(seed)
