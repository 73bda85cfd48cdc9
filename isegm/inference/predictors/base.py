"""RITM's NoBRS predictor: clicks + image -> probability map, with invertible test-time transforms."""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from isegm.inference.clicker import clicks_to_points
from isegm.inference.transforms import AddHorizontalFlip, LimitLongestSide, SigmoidForPred, ZoomIn

logger = logging.getLogger(__name__)


def check_rgb_image(image) -> np.ndarray:
    """``image`` as an (H, W, 3) uint8 RGB array.

    Raises:
        ValueError: another shape or dtype (both named).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be a (H, W, 3) uint8 RGB array, got shape {image.shape} dtype {image.dtype}")
    return image


def image_to_tensor(image) -> torch.Tensor:
    """(H, W, 3) uint8 RGB numpy -> (1, 3, H, W) float32 in [0, 1] (as torchvision's ToTensor);
    a (3, H, W) or (1, 3, H, W) float tensor in [0, 1] is passed through.

    Raises:
        ValueError: any other shape or dtype.
    """
    if isinstance(image, torch.Tensor):
        if image.dim() == 3:
            image = image.unsqueeze(0)
        if image.dim() != 4 or not image.is_floating_point():
            raise ValueError(f"image tensor must be (3, H, W) or (1, 3, H, W) float in [0, 1], "
                             f"got {tuple(image.shape)} {image.dtype}")
        return image.float()
    image = np.asarray(image)
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be a (H, W, 3) uint8 RGB array, got shape {image.shape} dtype {image.dtype}")
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()
    return tensor.float().div(255).unsqueeze(0)


class BasePredictor:
    """Runs an interactive segmentation model for a clicker's clicks (RITM's NoBRS predictor).

    Transforms, in order: ``zoom_in`` (if given), ``LimitLongestSide(max_size)`` (if given),
    ``SigmoidForPred``, ``AddHorizontalFlip`` (if ``with_flip``); their inverses are applied in
    reverse order to the network's logits (so flip averaging is on logits). Models with
    ``with_prev_mask`` get the previous probability map as a 4th input channel.

    Args:
        model: network with ``forward(image, points) -> {'instances': (B, 1, h, w) logits}``.
        device: torch device (or string) for the image and the model's inputs.
        net_clicks_limit: give the network only the first N clicks (None = all).
        with_flip: average with the horizontally flipped input.
        zoom_in: optional :class:`ZoomIn`.
        max_size: optional longest-side limit of the network input.

    Raises:
        TypeError: an unknown keyword argument (Python names it).
    """

    def __init__(self, model, device, net_clicks_limit: Optional[int] = None, with_flip: bool = False,
                 zoom_in: Optional[ZoomIn] = None, max_size: Optional[int] = None):
        self.net = model
        self.device = torch.device(device)
        self.net_clicks_limit = net_clicks_limit
        self.with_flip = with_flip
        self.zoom_in = zoom_in
        self.max_size = max_size
        self.original_image = None
        self.prev_prediction = None

        self.transforms = [zoom_in] if zoom_in is not None else []
        if max_size is not None:
            self.transforms.append(LimitLongestSide(max_size=max_size))
        self.transforms.append(SigmoidForPred())
        if with_flip:
            self.transforms.append(AddHorizontalFlip())

    # ------------------------------------------------------------------ image
    def set_input_image(self, image) -> None:
        """Set a new image (moved to the device once) and reset the transforms and the previous mask.

        Args:
            image: (H, W, 3) uint8 RGB numpy array, or a (3, H, W) float tensor in [0, 1].
        """
        image_nd = image_to_tensor(image)
        for transform in self.transforms:
            transform.reset()
        self.original_image = image_nd.to(self.device)
        self.prev_prediction = torch.zeros_like(self.original_image[:, :1, :, :])

    set_image = set_input_image

    # ------------------------------------------------------------------ prediction
    def get_prediction(self, clicker, prev_mask=None) -> np.ndarray:
        """Probability map for the clicker's clicks.

        Args:
            clicker: a :class:`~isegm.inference.clicker.Clicker` (its ``get_clicks()`` are used).
            prev_mask: optional previous probabilities, (H, W) numpy or (1, 1, H, W) tensor; default:
                this predictor's last output (zeros for the first click).

        Returns:
            (H, W) float32 probabilities in [0, 1].

        Raises:
            RuntimeError: no image was set with :meth:`set_input_image`.
        """
        if self.original_image is None:
            raise RuntimeError("get_prediction called before set_input_image(image)")
        with self._inference_context():
            prediction = self._predict(clicker, prev_mask)
        return prediction.cpu().numpy()[0, 0].astype(np.float32, copy=False)

    def _inference_context(self):
        """Autograd context of :meth:`get_prediction` (BRS predictors need no_grad instead)."""
        return torch.inference_mode()

    def _predict(self, clicker, prev_mask):
        clicks_list = clicker.get_clicks()
        input_image = self.original_image
        if prev_mask is None:
            prev_mask = self.prev_prediction
        elif not isinstance(prev_mask, torch.Tensor):
            prev_mask = torch.as_tensor(np.asarray(prev_mask, dtype=np.float32))
        if prev_mask.dim() == 2:
            prev_mask = prev_mask[None, None]
        prev_mask = prev_mask.to(device=self.device, dtype=input_image.dtype)
        if getattr(self.net, "with_prev_mask", False):
            input_image = torch.cat((input_image, prev_mask), dim=1)

        image_nd, clicks_lists, is_image_changed = self.apply_transforms(input_image, [clicks_list])
        pred_logits = self._get_prediction(image_nd, clicks_lists, is_image_changed)
        prediction = F.interpolate(pred_logits, mode="bilinear", align_corners=True, size=image_nd.shape[2:])
        for transform in reversed(self.transforms):
            prediction = transform.inv_transform(prediction)

        if self.zoom_in is not None and self.zoom_in.check_possible_recalculation():
            return self._predict(clicker, None)

        self.prev_prediction = prediction
        return prediction

    def _get_prediction(self, image_nd, clicks_lists, is_image_changed):
        points_nd = self.get_points_nd(clicks_lists)
        return self.net(image_nd, points_nd)["instances"]

    def apply_transforms(self, image_nd, clicks_lists):
        """Run the forward transforms; returns (image, clicks lists, whether the image changed)."""
        is_image_changed = False
        for transform in self.transforms:
            image_nd, clicks_lists = transform.transform(image_nd, clicks_lists)
            is_image_changed |= transform.image_changed
        return image_nd, clicks_lists, is_image_changed

    def get_points_nd(self, clicks_lists) -> torch.Tensor:
        """(B, 2N, 3) float32 points tensor on the device (see :func:`clicks_to_points`)."""
        points = clicks_to_points(clicks_lists, clicks_limit=self.net_clicks_limit)
        return torch.from_numpy(points).to(self.device)

    # ------------------------------------------------------------------ undo
    def get_states(self) -> dict:
        """Transform states and previous prediction, for :meth:`set_states` (undo)."""
        return {
            "transform_states": [t.get_state() for t in self.transforms],
            "prev_prediction": self.prev_prediction.clone() if self.prev_prediction is not None else None,
        }

    def set_states(self, states: dict) -> None:
        """Restore a state from :meth:`get_states`.

        Raises:
            ValueError: the state was taken from a predictor with other transforms.
        """
        transform_states = states["transform_states"]
        if len(transform_states) != len(self.transforms):
            raise ValueError(f"state has {len(transform_states)} transform states, "
                             f"this predictor has {len(self.transforms)} transforms")
        for state, transform in zip(transform_states, self.transforms):
            transform.set_state(state)
        self.prev_prediction = states["prev_prediction"]


class ClickList:
    """Clicker-like holder of a fixed list of clicks (``get_clicks()`` only), e.g. clicks already mapped into a
    crop or patch, for a wrapper that asks the predictor it wraps about a part of the image."""

    def __init__(self, clicks):
        self._clicks = list(clicks)

    def get_clicks(self, clicks_limit=None):
        return self._clicks[:clicks_limit] if clicks_limit is not None else list(self._clicks)


class PredictorWrapper:
    """Base of the wrappers that compose with any predictor (CFR, focus refinement, ...).

    It forwards what callers read of a predictor (``net``, ``zoom_in``, ``with_flip``, ``device``,
    ``prev_prediction``) to the wrapped ``self.predictor`` and keeps undo states nested: ``get_states()``
    is ``{"predictor": <wrapped states>, <STATE_KEY>: <own state>}``. A subclass sets ``STATE_KEY`` and
    implements ``get_prediction``, ``_own_state()`` and ``_set_own_state(value)``; ``set_input_image``
    may be extended (call ``super().set_input_image``).
    """

    #: the key of the wrapper's own state in :meth:`get_states` (set by each subclass)
    STATE_KEY = ""

    def __init__(self, predictor):
        self.predictor = predictor

    @property
    def net(self):
        return self.predictor.net

    @property
    def zoom_in(self):
        return self.predictor.zoom_in

    @property
    def with_flip(self):
        return self.predictor.with_flip

    @property
    def device(self):
        return self.predictor.device

    @property
    def prev_prediction(self):
        return self.predictor.prev_prediction

    @prev_prediction.setter
    def prev_prediction(self, value):
        self.predictor.prev_prediction = value

    def set_input_image(self, image) -> None:
        """Set the image ((H, W, 3) uint8 RGB) on the wrapped predictor."""
        self.predictor.set_input_image(image)

    def set_image(self, image) -> None:
        """Alias of :meth:`set_input_image` (segment-anything's name)."""
        self.set_input_image(image)

    def _own_state(self):
        raise NotImplementedError

    def _set_own_state(self, value) -> None:
        raise NotImplementedError

    def get_states(self) -> dict:
        """The wrapped predictor's states plus this wrapper's own (for :meth:`set_states`, undo)."""
        return {"predictor": self.predictor.get_states(), self.STATE_KEY: self._own_state()}

    def set_states(self, states: dict) -> None:
        """Restore a state from :meth:`get_states`.

        Raises:
            ValueError: ``states`` was not taken from this kind of wrapper (no ``STATE_KEY`` entry).
        """
        if not isinstance(states, dict) or self.STATE_KEY not in states:
            raise ValueError(f"state was not taken from a {type(self).__name__} (no {self.STATE_KEY!r})")
        self.predictor.set_states(states["predictor"])
        self._set_own_state(states[self.STATE_KEY])
