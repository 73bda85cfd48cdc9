"""Training recipes: everything an experiment script states, as one frozen dataclass.

An experiment script in ``models/`` defines ``RECIPE = replace(BASE, field=value, ...)`` from a base
recipe, so each script states only what differs (detectron2's style) instead of copying a whole
training function. :func:`run_recipe` turns a recipe plus the command-line settings into a model,
datasets, losses and an :class:`~isegm.engine.trainer.ISTrainer`, and runs it.

RITM's defaults (``models/iter_mask/*`` in Sofiiuk et al. 2021's code) are the field defaults.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from isegm.engine.optimizer import get_lr_scheduler
from isegm.engine.trainer import ISTrainer, LossSpec, TrainerSettings, check_icl_weights
from isegm.model.losses import build_loss
from isegm.data.registry import dataset_path
from isegm.io import to_plain
from isegm.utils.exp import ExpPaths

logger = logging.getLogger(__name__)

__all__ = ["Recipe", "replace", "run_recipe", "build_datasets", "build_augmentator", "build_suem",
           "build_refinement", "build_pseudo_objects"]


#: Geometric augmentation presets of :func:`build_augmentator`.
AUGMENT_PRESETS = ("default", "sbd")


@dataclass(frozen=True)
class Recipe:
    """One training recipe (RITM iter_mask defaults).

    Model: ``model`` names a builder in :data:`isegm.model.builders.MODEL_BUILDERS`;
    ``model_kwargs`` override its arguments; ``pretrained`` names an entry of config.yml's
    ``IMAGENET_PRETRAINED_MODELS`` for the backbone (None = train from the initialiser).
    Data: ``train_dataset`` (registry name, path from config.yml) with ``train_split``; validation on
    ``val_dataset``/``val_split``, or, when ``val_dataset`` is None, on a seeded ``val_fraction`` of the
    training set held out from training.
    SUEM (CFR-ICL's data recipe, :mod:`isegm.data.augment`): ``copy_paste_prob`` and ``image_mix_prob``
    (CFR-ICL: 0.5 each; 0 = off, the default, which leaves items bit-identical), ``paste_scale_range``
    for the pasted objects, and ``stuff_prob``: stuff regions as extra targets, for training sets that
    have them (None = the loader's default or ``train_dataset_kwargs``). Validation never uses SUEM.
    Iterative click loss (ICL, CFR-ICL; :meth:`isegm.engine.trainer.ISTrainer._icl_forward`):
    ``icl_weights``, one weight per IT-M iteration (as many as ``max_num_next_clicks``; CFR-ICL:
    ``(1, 2, 3)``); None or ``()`` = RITM's IT-M, the default. Validation always uses RITM's IT-M.
    Mask refinement ("Fusing Forces", :mod:`isegm.inference.correction`): ``refinement``, a dict of
    :class:`~isegm.inference.correction.CorrectionSimulator` fields (``{}`` = its defaults; ``max_points``
    defaults to ``num_max_points``), makes every item an initial mask (the previous-mask input) plus
    corrective strokes (the clicks); None, the default, trains click segmentation.
    Pseudo-objects (:mod:`isegm.data.pseudo`): ``pseudo_objects``, a dict of
    :class:`~isegm.data.pseudo.PseudoObjects` fields (e.g. ``{"superpixel_prob": 0.5}``), replaces a training
    item's target by a merged-superpixel region of its crop or a pasted synthetic shape with those
    probabilities; None, the default, leaves items unchanged. Validation never uses them.
    Schedule (:func:`isegm.engine.optimizer.get_lr_scheduler`, checked when the recipe is made):
    ``lr_schedule`` 'multistep' (x``lr_gamma`` at ``milestones``), 'step' (x``lr_gamma`` every
    ``lr_step_size`` epochs, StepLR), 'cosine' or 'constant'.
    """
    model: str = "hrnet18_itermask"
    model_kwargs: dict = field(default_factory=dict)
    pretrained: str | None = None
    train_dataset: str = "LVIS"
    train_split: str | None = "train"
    val_dataset: str | None = "LVIS"
    val_split: str | None = "val"
    val_fraction: float = 0.1
    train_dataset_kwargs: dict = field(default_factory=dict)  # loader options, e.g. {"stuff_prob": 0.3}
    crop_size: tuple[int, int] = (320, 480)
    scale_range: tuple[float, float] = (0.75, 1.40)
    color_augment: bool = True
    augment_preset: str = "default"        # "default" (RITM COCO+LVIS) or "sbd" (adds flips, rot90, small rotations)
    val_resize: bool = False               # RITM's SBD recipe also rescales validation crops
    val_epoch_len: int = -1
    num_max_points: int = 24
    prob_gamma: float = 0.80
    merge_objects_prob: float = 0.15
    max_num_merged_objects: int = 2
    min_object_area: int = 1000
    keep_background_prob: float = 0.05
    epoch_len: int = -1
    batch_size: int = 32
    epochs: int = 230
    optimizer: str = "adam"
    optimizer_params: dict = field(default_factory=dict)   # e.g. {"weight_decay": 1e-4}; over the defaults
    lr: float = 5e-4
    lr_schedule: str = "multistep"
    milestones: tuple[int, ...] = (200, 220)
    lr_gamma: float = 0.1
    lr_step_size: int | None = None        # lr_schedule "step": epochs between drops by lr_gamma (StepLR)
    instance_loss: str = "nfl"
    instance_loss_kwargs: dict = field(default_factory=lambda: {"alpha": 0.5, "gamma": 2})
    instance_loss_weight: float = 1.0
    aux_loss: str = "bce"
    aux_loss_weight: float = 0.4
    max_num_next_clicks: int = 3
    prev_mask_drop_prob: float = 0.0
    coord_feature_scale: float | None = None  # initial value of maps_transform's ScaleLayer (RITM: 0.05)
    checkpoint_interval: tuple = ((0, 5), (200, 1))
    image_dump_interval: int = 3000
    copy_paste_prob: float = 0.0
    image_mix_prob: float = 0.0
    paste_scale_range: tuple[float, float] = (0.5, 1.0)
    stuff_prob: float | None = None
    icl_weights: tuple[float, ...] | None = None
    refinement: dict | None = None
    pseudo_objects: dict | None = None

    def __post_init__(self):
        # SUEM and stuff settings are checked when the recipe is made, so that a bad experiment script
        # fails at import (train.py: one line naming the script and the field) instead of mid-build.
        if self.augment_preset not in AUGMENT_PRESETS:
            raise ValueError(f"recipe augment_preset={self.augment_preset!r}: expected one of "
                             f"{', '.join(AUGMENT_PRESETS)}")
        build_suem(self)
        build_refinement(self, load_model=False)
        build_pseudo_objects(self)
        if self.refinement is not None and self.icl_weights:
            raise ValueError("recipe refinement with icl_weights: mask refinement items have no IT-M clicks")
        _stuff_kwargs(self)
        check_icl_weights(self.icl_weights, self.max_num_next_clicks, name="recipe icl_weights")
        # the schedule's name and its parameters (lr_step_size of "step"), on a throw-away optimizer
        get_lr_scheduler(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), name=self.lr_schedule,
                         epochs=self.epochs, milestones=self.milestones, gamma=self.lr_gamma,
                         step_size=self.lr_step_size)


#: refinement keys that describe the click model of the initial masks (not CorrectionSimulator fields)
_INITIAL_MODEL_KEYS = ("initial_model", "initial_model_clicks")


def build_refinement(recipe: Recipe, load_model: bool = True):
    """The recipe's :class:`~isegm.inference.correction.CorrectionSimulator` (mask refinement training,
    "Fusing Forces"), or None without ``refinement``; its dict holds the simulator's fields (``{}``: defaults).

    Initial masks from a click model: ``"initial_model": "<checkpoint .pth>"`` (a path, relative to the working
    directory), ``"initial_model_prob": p`` and optionally ``"initial_model_clicks": (lo, hi)`` (default (1, 3))
    make a share p of the items start from that model's NoBRS mask after lo..hi simulated clicks on the crop
    (:class:`~isegm.inference.correction.ClickModelMasks`; CPU, no flip, no zoom-in).

    Args:
        recipe: the recipe.
        load_model: load the initial-mask checkpoint (False: check the settings only, as the recipe does when
            it is made; the model then is left out).

    Raises:
        ValueError: ``refinement`` not a dict, an unknown field or a bad value (names the field);
            ``initial_model_prob`` > 0 without ``initial_model``; with ``load_model``, an ``initial_model`` path
            that is no file (names it). A file that is not a checkpoint: the loader's CheckpointError.
    """
    if recipe.refinement is None:
        return None
    from dataclasses import fields

    from isegm.inference.correction import ClickModelMasks, CorrectionSimulator

    if not isinstance(recipe.refinement, dict):
        raise ValueError(f"recipe refinement must be a dict of CorrectionSimulator fields, got {recipe.refinement!r}")
    known = ({f.name for f in fields(CorrectionSimulator)} - {"initial_model"}) | set(_INITIAL_MODEL_KEYS)
    unknown = sorted(set(recipe.refinement) - known)
    if unknown:
        raise ValueError(f"recipe refinement: unknown field(s) {unknown}; known: {sorted(known)}")
    kwargs = dict(recipe.refinement)
    kwargs.setdefault("max_points", recipe.num_max_points)
    checkpoint, clicks = kwargs.pop("initial_model", None), kwargs.pop("initial_model_clicks", (1, 3))
    if checkpoint is None and kwargs.get("initial_model_prob", 0.0) > 0:
        raise ValueError("recipe refinement initial_model_prob > 0 needs initial_model (a click-model checkpoint)")
    if checkpoint is not None:
        if not isinstance(checkpoint, str) or not checkpoint:
            raise ValueError(f"recipe refinement initial_model must be a checkpoint path, got {checkpoint!r}")
        ClickModelMasks(None, clicks)                     # checks the click range
        if load_model:
            import os

            from isegm.inference.predictors import get_predictor
            from isegm.model import load_is_model

            if not os.path.isfile(checkpoint):
                raise ValueError(f"recipe refinement initial_model {checkpoint}: no such checkpoint file")
            model = load_is_model(checkpoint, device="cpu", eval_mode=True)
            predictor = get_predictor(model, "NoBRS", "cpu", zoom_in_params=None, with_flip=False)
            kwargs["initial_model"] = ClickModelMasks(predictor, clicks)
    return CorrectionSimulator(**kwargs)


def build_pseudo_objects(recipe: Recipe):
    """The recipe's :class:`~isegm.data.pseudo.PseudoObjects`, or None without ``pseudo_objects``.

    Raises:
        ValueError: ``pseudo_objects`` not a dict, an unknown field or a bad value (names the field).
    """
    if recipe.pseudo_objects is None:
        return None
    from dataclasses import fields

    from isegm.data.pseudo import PseudoObjects

    if not isinstance(recipe.pseudo_objects, dict):
        raise ValueError(f"recipe pseudo_objects must be a dict of PseudoObjects fields, got {recipe.pseudo_objects!r}")
    known = {f.name for f in fields(PseudoObjects)}
    unknown = sorted(set(recipe.pseudo_objects) - known)
    if unknown:
        raise ValueError(f"recipe pseudo_objects: unknown field(s) {unknown}; known: {sorted(known)}")
    return PseudoObjects(**{k: tuple(v) if isinstance(v, list) else v for k, v in recipe.pseudo_objects.items()})


def build_suem(recipe: Recipe):
    """The recipe's :class:`~isegm.data.augment.SUEM`, or None when both probabilities are 0.

    Raises:
        ValueError: a probability outside [0, 1] or a malformed ``paste_scale_range`` (names the field).
    """
    if recipe.copy_paste_prob == 0 and recipe.image_mix_prob == 0:
        _check_range_field("paste_scale_range", recipe.paste_scale_range)
        return None
    from isegm.data.augment import SUEM

    return SUEM(copy_paste_prob=recipe.copy_paste_prob, image_mix_prob=recipe.image_mix_prob,
                paste_scale_range=tuple(recipe.paste_scale_range), min_remnant_area=recipe.min_object_area)


def _check_range_field(name: str, value) -> None:
    from isegm.data.augment import SUEM

    SUEM(**{name: value})


def _stuff_kwargs(recipe: Recipe) -> dict:
    """``{'stuff_prob': p}`` for the training loader, checked against it (empty when the field is None)."""
    if recipe.stuff_prob is None:
        return {}
    import inspect

    from isegm.data.registry import resolve

    if not 0.0 <= float(recipe.stuff_prob) <= 1.0:
        raise ValueError(f"recipe stuff_prob must be in [0, 1], got {recipe.stuff_prob}")
    loader = resolve(recipe.train_dataset).loader_class()
    if "stuff_prob" not in inspect.signature(loader.__init__).parameters:
        raise ValueError(f"recipe stuff_prob={recipe.stuff_prob}: training set {recipe.train_dataset} "
                         f"({loader.__name__}) has no stuff regions")
    given = recipe.train_dataset_kwargs.get("stuff_prob")
    if given is not None and float(given) != float(recipe.stuff_prob):
        raise ValueError(f"recipe stuff_prob={recipe.stuff_prob} contradicts train_dataset_kwargs "
                         f"stuff_prob={given}; set one of them")
    return {"stuff_prob": float(recipe.stuff_prob)}


def build_augmentator(recipe: Recipe, train: bool):
    """Albumentations pipeline of RITM's recipes: random rescale, flip, pad + crop to ``crop_size``,
    brightness/contrast and RGB shift (train); pad + crop only (validation)."""
    import albumentations as A

    from isegm.data.transforms import UniformRandomResize

    h, w = recipe.crop_size
    pad_crop = [A.PadIfNeeded(min_height=h, min_width=w, border_mode=0), A.RandomCrop(h, w)]
    if not train:
        resize = [UniformRandomResize(scale_range=recipe.scale_range)] if recipe.val_resize else []
        return A.Compose(resize + pad_crop, p=1.0)
    if recipe.augment_preset == "sbd":
        geometric = [A.HorizontalFlip(), A.VerticalFlip(), A.RandomRotate90(),
                     A.Affine(translate_percent=(-0.03, 0.03), rotate=(-3, 3), border_mode=0, p=0.75)]
    elif recipe.augment_preset == "default":
        geometric = [A.HorizontalFlip()]
    else:
        raise ValueError(f"unknown augment_preset {recipe.augment_preset!r}; known: {', '.join(AUGMENT_PRESETS)}")
    ops = [UniformRandomResize(scale_range=recipe.scale_range)] + geometric + pad_crop
    if recipe.color_augment:
        ops += [A.RandomBrightnessContrast(brightness_limit=(-0.25, 0.25), contrast_limit=(-0.15, 0.4), p=0.75),
                A.RGBShift(r_shift_limit=10, g_shift_limit=10, b_shift_limit=10, p=0.75)]
    return A.Compose(ops, p=1.0)


def build_datasets(recipe: Recipe, cfg, seed: int = 0):
    """Training and validation datasets of a recipe, paths taken from ``cfg`` (config.yml)."""
    from isegm.data.datasets import get_dataset
    from isegm.data.points_sampler import MultiPointSampler

    sampler = MultiPointSampler(recipe.num_max_points, prob_gamma=recipe.prob_gamma,
                                merge_objects_prob=recipe.merge_objects_prob,
                                max_num_merged_objects=recipe.max_num_merged_objects)
    common = dict(points_sampler=sampler, min_object_area=recipe.min_object_area)
    refinement = build_refinement(recipe)
    if refinement is not None:
        common["refinement"] = refinement
    suem = build_suem(recipe)
    pseudo = build_pseudo_objects(recipe)

    def make(name, split, train):
        kwargs = dict(common, augmentator=build_augmentator(recipe, train))
        if train:
            kwargs.update(keep_background_prob=recipe.keep_background_prob, epoch_len=recipe.epoch_len,
                          **{**recipe.train_dataset_kwargs, **_stuff_kwargs(recipe)})
            if suem is not None:
                kwargs["suem"] = suem
            if pseudo is not None:
                kwargs["pseudo_objects"] = pseudo
        else:
            kwargs.update(epoch_len=recipe.val_epoch_len)
        if split is not None:
            kwargs["split"] = split
        return get_dataset(name, dataset_path(cfg, name), **kwargs)

    trainset = make(recipe.train_dataset, recipe.train_split, train=True)
    if recipe.val_dataset is not None:
        return trainset, make(recipe.val_dataset, recipe.val_split, train=False)
    # Hold out a seeded fraction of the training set for validation (checkpoint selection only).
    return trainset.split(recipe.val_fraction, seed=seed, augmentator=build_augmentator(recipe, train=False),
                          keep_background_prob=0.0, epoch_len=recipe.val_epoch_len, suem=None, pseudo_objects=None)


def build_losses(recipe: Recipe) -> list[LossSpec]:
    specs = [LossSpec("instances", build_loss(recipe.instance_loss, **recipe.instance_loss_kwargs),
                      recipe.instance_loss_weight)]
    if recipe.aux_loss and recipe.aux_loss_weight > 0:
        specs.append(LossSpec("instances_aux", build_loss(recipe.aux_loss), recipe.aux_loss_weight))
    return specs


def build_model(recipe: Recipe, cfg, weights: str | None = None):
    """Model of a recipe: builder + RITM's Xavier initialisation + optional ImageNet backbone, or
    ``weights`` (a checkpoint to fine-tune from, e.g. a released RITM model)."""
    from isegm.model.builders import build_model as build
    from isegm.model.initializer import xavier_gluon_init

    model = build(recipe.model, **recipe.model_kwargs)
    xavier_gluon_init(model, magnitude=2.0)
    if recipe.coord_feature_scale is not None:
        set_coord_feature_scale(model, recipe.coord_feature_scale)
    if recipe.pretrained:
        table = cfg.get("IMAGENET_PRETRAINED_MODELS") or {}
        if recipe.pretrained not in table:
            raise KeyError(f"config.yml has no IMAGENET_PRETRAINED_MODELS.{recipe.pretrained} for this recipe; add it "
                           f"or pass --set IMAGENET_PRETRAINED_MODELS.{recipe.pretrained}=PATH")
        model.feature_extractor.load_pretrained_weights(str(table[recipe.pretrained]))
    if weights:
        load_finetune_weights(model, weights, recipe.model)
    return model


def load_finetune_weights(model, weights, recipe_model: str) -> None:
    """Copy the weights of checkpoint ``weights`` into ``model`` (the recipe's, named ``recipe_model``).

    Raises:
        UserError: the checkpoint cannot be loaded, holds another model family (e.g. a U-Net checkpoint
            given to an HRNet recipe) or another variant of the same family (keys / shapes differ);
            one line naming the file, what it holds and what the recipe builds.
    """
    from isegm.errors import UserError
    from isegm.model.checkpoint import load_is_model, load_state_dict_strict

    source = load_is_model(weights, device="cpu", eval_mode=False)
    if type(source) is not type(model):
        raise UserError(f"--weights {weights}: checkpoint of class {type(source).__name__}, but recipe model "
                        f"{recipe_model!r} is class {type(model).__name__}; fine-tune with a recipe of the same "
                        f"model family")
    try:
        load_state_dict_strict(model, source.state_dict(), weights)
    except ValueError as err:
        raise UserError(f"--weights {weights} does not fit recipe model {recipe_model!r}: "
                        f"{str(err).splitlines()[0]}") from err
    del source
    logger.info("fine-tuning from %s", weights)
    return model


def set_coord_feature_scale(model, value: float) -> None:
    """Set the initial gain of the click features (the ``ScaleLayer`` closing ``maps_transform``).

    RITM starts it at 0.05 so that clicks enter an ImageNet-pretrained backbone gently. A backbone
    trained from scratch has no features to protect, and at 0.05 the click signal is too faint for it
    to pick up: the gain then shrinks instead of growing and the model never learns to follow clicks.
    Only the initial value changes; the parameter stays learned, and the architecture and checkpoint
    keys are RITM's.

    Raises:
        ValueError: the model has no ``maps_transform`` ending in a ScaleLayer (e.g. ``use_rgb_conv``).
    """
    from isegm.model.ops import ScaleLayer

    transform = getattr(model, "maps_transform", None)
    layer = transform[-1] if isinstance(transform, torch.nn.Sequential) and len(transform) else None
    if not isinstance(layer, ScaleLayer):
        raise ValueError(f"coord_feature_scale needs a model whose maps_transform ends in a ScaleLayer; "
                         f"{type(model).__name__} has {type(transform).__name__}")
    if value <= 0:
        raise ValueError(f"coord_feature_scale must be > 0, got {value}")
    with torch.no_grad():
        layer.scale.fill_(value / layer.lr_mult)


def run_recipe(recipe: Recipe, cfg, exp: ExpPaths, *, device: torch.device, batch_size: int | None = None,
               workers: int = 4, epochs: int | None = None, seed: int = 0, weights: str | None = None,
               resume_checkpoint: Path | None = None, start_epoch: int | None = None, distributed: bool = False,
               max_batches_per_epoch: int | None = None, meta: dict | None = None, amp: str = "none",
               channels_last: bool = False, sync_bn: bool = True) -> dict:
    """Build everything a recipe names and train. Returns the last epoch's statistics.

    Args:
        recipe: the experiment's :class:`Recipe`.
        cfg: loaded config.yml (dataset and pretrained-weight paths).
        exp: run folders.
        device: training device.
        batch_size, epochs: override the recipe's (``-1``/None keeps it).
        workers: data-loading processes.
        seed: seeds torch, NumPy and the click simulation.
        weights: checkpoint to initialise from (fine-tuning).
        resume_checkpoint: a ``last_checkpoint.pth`` to continue from (weights, optimizer, epoch).
        start_epoch: override the epoch to resume at.
        max_batches_per_epoch: cap the epoch length (smoke tests).
        amp: mixed precision for training, ``none``, ``bf16`` or ``fp16`` (CUDA only).
        channels_last: train with NHWC tensors.
        sync_bn: under torchrun, BatchNorm statistics over the global batch (so W processes compute what
            one process with the same global batch computes); False = per-process statistics (RITM).
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    import random
    random.seed(seed)
    if batch_size is not None and batch_size > 0:
        recipe = replace(recipe, batch_size=batch_size)
    if epochs is not None and epochs > 0:
        recipe = replace(recipe, epochs=epochs)
    model = build_model(recipe, cfg, weights=weights)
    trainset, valset = build_datasets(recipe, cfg, seed=seed)
    if max_batches_per_epoch:
        n = min(len(trainset), max_batches_per_epoch * recipe.batch_size)
        trainset = trainset.subset(list(range(n)))
        valset = valset.subset(list(range(min(len(valset), recipe.batch_size))))

    settings = TrainerSettings(
        batch_size=recipe.batch_size, workers=workers, optimizer=recipe.optimizer, lr=recipe.lr,
        optimizer_params=dict(recipe.optimizer_params),
        max_num_next_clicks=recipe.max_num_next_clicks, prev_mask_drop_prob=recipe.prev_mask_drop_prob,
        checkpoint_interval=recipe.checkpoint_interval, image_dump_interval=recipe.image_dump_interval, seed=seed,
        amp=amp, channels_last=channels_last, sync_bn=sync_bn,
        icl_weights=check_icl_weights(recipe.icl_weights, recipe.max_num_next_clicks, name="recipe icl_weights"))
    scheduler = partial(get_lr_scheduler, name=recipe.lr_schedule, epochs=recipe.epochs,
                        milestones=recipe.milestones, gamma=recipe.lr_gamma, step_size=recipe.lr_step_size)
    run_meta = dict(meta or {}, recipe=to_plain(asdict(recipe)), seed=seed, command=" ".join(sys.argv))
    trainer = ISTrainer(model, trainset, valset, build_losses(recipe), settings, exp, device,
                        lr_scheduler=scheduler, meta=run_meta, distributed=distributed)
    if resume_checkpoint is not None:
        checkpoint = torch.load(resume_checkpoint, map_location="cpu", weights_only=True)
        state = {k: v.float() if torch.is_floating_point(v) else v for k, v in checkpoint["state_dict"].items()}
        model.load_state_dict(state, strict=True)
        trainer.resume(checkpoint, start_epoch=start_epoch)
    elif start_epoch:
        trainer.start_epoch = start_epoch
    return trainer.run(recipe.epochs)

