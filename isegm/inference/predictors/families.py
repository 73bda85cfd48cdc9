"""The predictor families the evaluator can run, and how each one is built (one registry line per family).

=========  ==============================================  =====================================
family     what                                            built from
=========  ==============================================  =====================================
ritm       RITM click models (HRNet, DeepLab ...)          a RITM-format checkpoint (load_is_model)
unet       the MFP ResNet-34 U-Net (isegm.model.unet)      a RITM-format checkpoint (load_is_model)
sam        Segment Anything (predictors/sam.py)            an official SAM checkpoint + its variant
grabcut    classic GrabCut from clicks (predictors/        nothing
           grabcut.py)
=========  ==============================================  =====================================

RITM and U-Net checkpoints load the same way; the checkpoint's model class says which family it is, and
asking for the other family is refused. Their predictors are built per dataset by the evaluation (the zoom-in
depends on the dataset); SAM and GrabCut predictors are built once and handed to the evaluation as they are.

A model spec (``scripts/compare_models.py --model NAME=SPEC``) is ``ritm:PATH``, ``unet:PATH``,
``sam:VARIANT:PATH`` or ``grabcut``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from isegm.errors import UserError

__all__ = ["PREDICTOR_FAMILIES", "MODEL_FAMILIES", "ModelSpec", "parse_model_spec", "load_family_model",
           "get_family_predictor", "check_family_options"]

#: family name -> one line saying what it is (the order of ``--predictor``'s choices).
PREDICTOR_FAMILIES = {
    "ritm": "RITM click model from a RITM-format checkpoint (--checkpoint)",
    "unet": "MFP ResNet-34 U-Net from a RITM-format checkpoint (--checkpoint)",
    "sam": "Segment Anything from an official checkpoint (--sam-checkpoint, --sam-variant)",
    "grabcut": "classic GrabCut seeded from the clicks (no checkpoint)",
}
#: families whose model is an ``isegm.model`` network evaluated with :func:`get_predictor` (NoBRS / BRS).
MODEL_FAMILIES = ("ritm", "unet")


@dataclass(frozen=True)
class ModelSpec:
    """One model to evaluate: ``family`` (a key of :data:`PREDICTOR_FAMILIES`), ``checkpoint`` path ('' for
    GrabCut) and ``variant`` (SAM only: vit_b / vit_l / vit_h)."""

    family: str
    checkpoint: str = ""
    variant: str = ""

    def __post_init__(self):
        if self.family not in PREDICTOR_FAMILIES:
            raise UserError(f"predictor family {self.family!r}: expected one of {', '.join(PREDICTOR_FAMILIES)}")
        if self.family == "grabcut":
            if self.checkpoint:
                raise UserError(f"grabcut takes no checkpoint, got {self.checkpoint!r}")
        elif not self.checkpoint:
            raise UserError(f"predictor {self.family} needs a checkpoint"
                            + (" (--sam-checkpoint PATH, with --sam-variant)" if self.family == "sam" else ""))
        if self.family == "sam":
            from isegm.inference.predictors.sam import SAM_VARIANTS

            if self.variant not in SAM_VARIANTS:
                raise UserError(f"SAM variant {self.variant!r}: expected one of {', '.join(SAM_VARIANTS)}")
        elif self.variant:
            raise UserError(f"a variant ({self.variant!r}) only applies to sam")

    @property
    def label(self) -> str:
        """The run's name in file names: the checkpoint's stem, or the family for GrabCut."""
        return os.path.splitext(os.path.basename(self.checkpoint))[0] if self.checkpoint else self.family


def parse_model_spec(text: str) -> ModelSpec:
    """``ritm:PATH``, ``unet:PATH``, ``sam:VARIANT:PATH`` or ``grabcut`` -> :class:`ModelSpec`.

    Raises:
        UserError: an unknown family, a missing path or variant (the message quotes ``text``).
    """
    family, _, rest = text.strip().partition(":")
    family = family.strip().lower()
    try:
        if family == "sam":
            variant, sep, path = rest.partition(":")
            if not sep:
                raise UserError("expected sam:VARIANT:PATH")
            return ModelSpec("sam", path.strip(), variant.strip())
        return ModelSpec(family, rest.strip())
    except UserError as exc:
        raise UserError(f"model spec {text!r}: {exc} (specs: ritm:PATH, unet:PATH, sam:VARIANT:PATH, grabcut)") from None


def load_family_model(family: str, checkpoint, device):
    """Load a RITM / U-Net checkpoint (:func:`isegm.model.load_is_model`, eval mode) and check its family.

    Raises:
        UserError: the checkpoint holds the other family's model (naming file and class), or any loader error.
        FileNotFoundError: no such file.
    """
    from isegm.model import UNetModel, load_is_model

    model = load_is_model(str(checkpoint), device=device, eval_mode=True)
    found = "unet" if isinstance(model, UNetModel) else "ritm"
    if family not in MODEL_FAMILIES:
        raise UserError(f"predictor family {family!r} does not load isegm checkpoints ({', '.join(MODEL_FAMILIES)} do)")
    if found != family:
        raise UserError(f"{checkpoint}: holds a {type(model).__name__} ({found} family), but the predictor is {family}")
    return model


def get_family_predictor(spec: ModelSpec, device, *, model=None, **predictor_kwargs):
    """A predictor for ``spec``.

    Args:
        spec: the :class:`ModelSpec`.
        device: torch device.
        model: an already loaded model (ritm / unet; default: loaded from ``spec.checkpoint``).
        **predictor_kwargs: for ritm / unet :func:`~isegm.inference.predictors.get_predictor` keywords
            (mode 'NoBRS' unless ``brs_mode`` is given), for grabcut
            :class:`~isegm.inference.predictors.grabcut.GrabCutPredictor` keywords; none for sam.

    Raises:
        UserError: from the loaders (see :func:`load_family_model`, :func:`~.sam.load_sam`).
        TypeError: unknown keywords.
    """
    if spec.family in MODEL_FAMILIES:
        from isegm.inference.predictors import get_predictor

        if model is None:
            model = load_family_model(spec.family, spec.checkpoint, device)
        brs_mode = predictor_kwargs.pop("brs_mode", "NoBRS")
        return get_predictor(model, brs_mode, device, **predictor_kwargs)
    if spec.family == "sam":
        from isegm.inference.predictors.sam import SamClickPredictor, load_sam

        if predictor_kwargs:
            raise TypeError(f"the sam predictor takes no options, got {sorted(predictor_kwargs)}")
        return SamClickPredictor(load_sam(spec.checkpoint, spec.variant, device))
    from isegm.inference.predictors.grabcut import GrabCutPredictor

    return GrabCutPredictor(**predictor_kwargs)


def check_family_options(family: str, mode: str = "NoBRS", cf_n: int = 0, focus_refine: bool = False,
                         clicks_limit: Optional[int] = None, max_size: Optional[int] = None) -> None:
    """Refuse evaluation options that only apply to the isegm network families (ritm, unet).

    Raises:
        UserError: a BRS mode, CFR, focus refinement, ``--clicks-limit`` or ``--max-size`` with sam / grabcut.
    """
    if family in MODEL_FAMILIES:
        return
    for flag, used in ((f"mode {mode}", mode != "NoBRS"), ("--cf-n", cf_n > 0), ("--focus-refine", focus_refine),
                       ("--clicks-limit", clicks_limit is not None), ("--max-size", max_size is not None)):
        if used:
            raise UserError(f"{flag} applies to the ritm and unet predictors only, not to {family}")
