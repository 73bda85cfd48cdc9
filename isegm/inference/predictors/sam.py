"""Segment Anything (Kirillov et al., "Segment Anything", ICCV 2023) as a click predictor, through the
``segment-anything`` package (``segment_anything.SamPredictor``; no weights are downloaded: the user gives a
checkpoint file).

What happens per image and per click:

* :meth:`SamClickPredictor.set_input_image` computes SAM's image embedding once (``SamPredictor.set_image``:
  the longest side resized to the encoder's input size, 1024 px for the released models, normalised and
  zero-padded to a square).
* :meth:`SamClickPredictor.get_prediction` converts our clicks, (y, x) pixels of the image, to SAM point
  prompts (x, y) with labels 1 (positive) / 0 (negative); ``SamPredictor.predict`` scales them into the
  resized frame. The first click asks for SAM's three masks (``multimask_output``) and keeps the one with
  the highest predicted IoU score; later clicks ask for one mask and get the previous click's low-resolution
  logits (1, 256, 256) as ``mask_input`` (SAM's iterative prompting). The returned map is
  ``sigmoid(logits)`` at the image size, so SAM's own threshold (logit 0) is probability 0.5 and the
  evaluation's 0.49 threshold works as for every predictor.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from isegm.errors import UserError
from isegm.inference.predictors.base import check_rgb_image

__all__ = ["SAM_VARIANTS", "SamClickPredictor", "detect_sam_variant", "load_sam"]

#: SAM variants of the ``segment-anything`` package and their image encoder's embedding width
#: (the out-channels of ``image_encoder.patch_embed.proj``, which tells a checkpoint's variant).
SAM_VARIANTS = {"vit_b": 768, "vit_l": 1024, "vit_h": 1280}
_VARIANT_KEY = "image_encoder.patch_embed.proj.weight"


def detect_sam_variant(state_dict: Mapping, source: str = "state dict") -> str:
    """The SAM variant ('vit_b', 'vit_l', 'vit_h') of a SAM state dict, from its patch-embedding shape.

    Raises:
        UserError: not a SAM state dict (no ``image_encoder.patch_embed.proj.weight``) or a width of no
            known variant; the message names ``source``.
    """
    weight = state_dict.get(_VARIANT_KEY) if isinstance(state_dict, Mapping) else None
    if weight is None or not hasattr(weight, "shape"):
        raise UserError(f"{source}: not a SAM checkpoint (no {_VARIANT_KEY!r} tensor in a state dict)")
    width = int(weight.shape[0])
    for name, embed_dim in SAM_VARIANTS.items():
        if embed_dim == width:
            return name
    known = ", ".join(f"{n} {d}" for n, d in SAM_VARIANTS.items())
    raise UserError(f"{source}: SAM image encoder width {width} is no known variant ({known})")


def load_sam(checkpoint, variant: str, device="cpu", builders: Optional[Mapping] = None):
    """Build a SAM model of ``variant`` and load a user-supplied checkpoint into it (eval mode).

    Args:
        checkpoint: path to an official SAM ``.pth`` (a bare state dict, e.g. ``sam_vit_b_01ec64.pth``).
        variant: 'vit_b', 'vit_l' or 'vit_h'; must be the checkpoint's variant.
        device: where to put the model.
        builders: ``{variant: builder() -> Sam}`` (default ``segment_anything.sam_model_registry``).

    Returns:
        a ``segment_anything.modeling.Sam`` in eval mode on ``device``.

    Raises:
        UserError: unknown variant, a missing or unreadable file, not a SAM state dict, a checkpoint of
            another variant (naming the file and both variants), or keys / shapes that do not match.
    """
    if variant not in SAM_VARIANTS:
        raise UserError(f"SAM variant {variant!r}: expected one of {', '.join(SAM_VARIANTS)}")
    path = os.fspath(checkpoint)
    if not os.path.isfile(path):
        raise UserError(f"SAM checkpoint {path}: no such file")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"SAM checkpoint {path}: cannot be read as a PyTorch state dict "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    found = detect_sam_variant(state_dict, f"SAM checkpoint {path}")
    if found != variant:
        raise UserError(f"SAM checkpoint {path} is a {found} checkpoint, but --sam-variant is {variant}")
    if builders is None:
        from segment_anything import sam_model_registry as builders
    model = builders[variant]()
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise UserError(f"SAM checkpoint {path}: does not match the {variant} model "
                        f"({str(exc).splitlines()[0]})") from None
    return model.to(device).eval()


class SamClickPredictor:
    """SAM behind the predictor interface (see the module docstring for the prompting rules).

    Args:
        sam: a ``segment_anything.modeling.Sam`` (in eval mode, on its device).
        logit_clip: bound of the logits an external ``prev_mask`` (probabilities) is converted to (10).

    Attributes:
        net: the SAM model. ``zoom_in``: None; ``with_flip``: False (SAM is run as released).
        low_res_logits: (1, h, w) float32 logits of the last kept mask in SAM's low-resolution frame (256 x
            256 for the released models), the next click's ``mask_input``; None before the first click.

    Raises:
        TypeError: ``sam`` is not a SAM model (no ``image_encoder`` / ``prompt_encoder``).
    """

    zoom_in = None
    with_flip = False

    def __init__(self, sam, logit_clip: float = 10.0):
        from segment_anything import SamPredictor

        if not (hasattr(sam, "image_encoder") and hasattr(sam, "prompt_encoder")):
            raise TypeError(f"SamClickPredictor needs a segment_anything Sam model, got {type(sam).__name__}")
        self.net = sam
        self.sam_predictor = SamPredictor(sam)
        self.logit_clip = float(logit_clip)
        self.low_res_logits: Optional[np.ndarray] = None
        self.prev_prediction = None

    @property
    def device(self):
        return self.net.device

    def set_input_image(self, image) -> None:
        """Compute SAM's image embedding of an (H, W, 3) uint8 RGB image; resets the previous mask.

        Raises:
            ValueError: another shape or dtype.
        """
        image = check_rgb_image(image)
        with torch.inference_mode():
            self.sam_predictor.set_image(np.ascontiguousarray(image), image_format="RGB")
        self.image_size = image.shape[:2]
        self.low_res_logits = None
        self.prev_prediction = None

    set_image = set_input_image

    @staticmethod
    def point_prompts(clicks):
        """SAM point prompts of our clicks: ((N, 2) float32 (x, y) pixels, (N,) int32 labels 1 / 0)."""
        coords = np.array([[c.x, c.y] for c in clicks], dtype=np.float32).reshape(-1, 2)
        labels = np.array([1 if c.is_positive else 0 for c in clicks], dtype=np.int32)
        return coords, labels

    def mask_input_from_probs(self, probs) -> np.ndarray:
        """(H, W) probabilities of the image -> (1, h, w) logits in SAM's low-resolution frame (resized as
        the image, zero-padded to the square input, scaled to the prompt encoder's mask size)."""
        probs = torch.as_tensor(np.asarray(probs, dtype=np.float32))
        eps = float(torch.sigmoid(torch.tensor(-self.logit_clip)))
        logits = torch.logit(probs.clamp(eps, 1 - eps))[None, None]
        in_h, in_w = self.sam_predictor.input_size
        side = self.net.image_encoder.img_size
        logits = F.interpolate(logits, (in_h, in_w), mode="bilinear", align_corners=False)
        logits = F.pad(logits, (0, side - in_w, 0, side - in_h), value=-self.logit_clip)
        logits = F.interpolate(logits, tuple(self.net.prompt_encoder.mask_input_size), mode="bilinear",
                               align_corners=False)
        return logits[0].numpy()

    def get_prediction(self, clicker, prev_mask=None) -> np.ndarray:
        """SAM's probabilities for the clicker's clicks.

        Args:
            clicker: a :class:`~isegm.inference.clicker.Clicker` ((y, x) clicks of the image).
            prev_mask: optional (H, W) probabilities used as ``mask_input`` instead of SAM's own previous
                low-resolution logits (e.g. an external start mask); default: the previous click's logits
                (none for the first click).

        Returns:
            (H, W) float32 probabilities (sigmoid of SAM's mask logits); zeros when there is no click.

        Raises:
            RuntimeError: no image was set.
        """
        if not self.sam_predictor.is_image_set:
            raise RuntimeError("get_prediction called before set_input_image(image)")
        clicks = clicker.get_clicks()
        if not clicks:
            return np.zeros(self.image_size, np.float32)
        coords, labels = self.point_prompts(clicks)
        if prev_mask is not None:
            mask_input = self.mask_input_from_probs(prev_mask)
        else:
            mask_input = self.low_res_logits if len(clicks) > 1 else None
        multimask = len(clicks) == 1
        with torch.inference_mode():
            masks, scores, low_res = self.sam_predictor.predict(point_coords=coords, point_labels=labels,
                                                                mask_input=mask_input, multimask_output=multimask,
                                                                return_logits=True)
        best = int(np.argmax(scores))
        self.low_res_logits = np.ascontiguousarray(low_res[best:best + 1], dtype=np.float32)
        probs = torch.sigmoid(torch.from_numpy(np.ascontiguousarray(masks[best], dtype=np.float32))).numpy()
        self.prev_prediction = probs
        return probs

    def get_states(self) -> dict:
        """The previous low-resolution logits and probabilities, for :meth:`set_states` (undo)."""
        copy = (lambda a: None if a is None else a.copy())
        return {"low_res_logits": copy(self.low_res_logits), "prev_prediction": copy(self.prev_prediction)}

    def set_states(self, states: dict) -> None:
        """Restore a state from :meth:`get_states`."""
        self.low_res_logits = states["low_res_logits"]
        self.prev_prediction = states["prev_prediction"]
