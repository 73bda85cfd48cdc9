"""Small building blocks of click-based models: input normalisation, click encodings, scaling.

Click encodings follow RITM (Sofiiuk et al. 2021, "Reviving Iterative Training with Mask
Guidance", sec. 3.1): every click becomes either a binary disk of radius ``norm_radius`` pixels
(``use_disks=True``, the paper's choice) or a smooth distance map ``tanh(2 * d / norm_radius)``
(the f-BRS / DOS encoding). Positive and negative clicks give one channel each.

Points layout (shared by the whole project): ``(B, 2N, 3)`` float32 rows ``(y, x, click_order)``
in pixels; the first N rows are positive clicks, the last N negative; padding rows are
``(-1, -1, -1)``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from isegm.geometry import valid_rows

# Normalisation layers a config may name ('class'-typed parameters of RITM checkpoints).
NORM_LAYERS: dict[str, type[nn.Module]] = {
    "torch.nn.modules.batchnorm.BatchNorm2d": nn.BatchNorm2d,
    "torch.nn.modules.batchnorm.SyncBatchNorm": nn.SyncBatchNorm,
}

# Value stored in place of a padding click's squared distance (RITM's constant).
_FAR = 1e6
# Upper bound on the elements of the per-click distance tensor DistMaps builds at once.
_CHUNK_ELEMENTS = 1 << 23


def _exporting() -> bool:
    """True while torch.jit.trace / torch.onnx.export / torch.export record a graph."""
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling())


def class_path(cls: type) -> str:
    """Dotted import path of a class, e.g. ``'torch.nn.modules.batchnorm.BatchNorm2d'``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve_norm_layer(value) -> tuple[type[nn.Module], str]:
    """Map a normalisation layer given as a class or a dotted path to ``(class, dotted path)``.

    Only the classes in :data:`NORM_LAYERS` are accepted, so that every model config can be
    rebuilt from plain strings (and a checkpoint never names arbitrary code).

    Raises:
        ValueError: the class / path is not in :data:`NORM_LAYERS`.
    """
    path = class_path(value) if isinstance(value, type) else value
    if not isinstance(path, str) or path not in NORM_LAYERS:
        raise ValueError(f"unsupported norm_layer {value!r}; expected one of {sorted(NORM_LAYERS)}")
    return NORM_LAYERS[path], path


def select_activation_function(activation):
    """Activation class from a name ('relu', 'softplus') or the class itself (RITM helper).

    Raises:
        ValueError: unknown name or type.
    """
    if isinstance(activation, str):
        table = {"relu": nn.ReLU, "softplus": nn.Softplus}
        if activation.lower() in table:
            return table[activation.lower()]
    elif isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    raise ValueError(f"unknown activation {activation!r}; expected 'relu', 'softplus' or an nn.Module class")


class BatchImageNormalize(nn.Module):
    """``(x - mean) / std`` per channel for a ``(B, C, H, W)`` batch.

    Mean and std are non-persistent buffers: they follow ``.to(device)`` but are not part of the
    ``state_dict`` (RITM's checkpoints do not store them).

    Args:
        mean, std: C floats each (ImageNet RGB statistics by default in the models).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean and std must have the same length, got {len(mean)} and {len(std)}")
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image: (B, C, H, W) float -> normalised copy of the same shape."""
        return (image - self.mean).div_(self.std)


class ScaleLayer(nn.Module):
    """Multiply by a learned scalar ``|scale * lr_mult|`` (RITM's ``ScaleLayer``).

    The parameter is stored as ``init_value / lr_mult`` so that its effective learning rate is
    multiplied by ``lr_mult``; its state_dict key is ``scale``, shape (1,).
    """

    def __init__(self, init_value: float = 1.0, lr_mult: float = 1.0):
        super().__init__()
        self.lr_mult = lr_mult
        self.scale = nn.Parameter(torch.full((1,), init_value / lr_mult, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a 0-dim factor keeps x's dtype under bf16 autocast (a (1,) fp32 one would promote the (B, C, H, W)
        # product to fp32, and the bf16 + fp32 add after it is ~100x slower on channels-last CPU tensors);
        # in fp32 the product is bit-identical either way
        return x * torch.abs(self.scale * self.lr_mult)[0]


class DistMaps(nn.Module):
    """Encode clicks as two maps (positive, negative), vectorised over batch and clicks.

    For every pixel (r, c) and click (y, x) the squared distance is
    ``((r - y)/R)^2 + ((c - x)/R)^2`` with ``R = norm_radius * spatial_scale`` (``R = 1`` for
    disks); a channel keeps the minimum over its clicks (padding clicks count as ``1e6``).
    Disks: ``1.0`` where that minimum is ``<= R^2`` else ``0.0``. Distance maps:
    ``tanh(2 * sqrt(min))``, i.e. 0 on a click and towards 1 far away (1 with no click at all).
    Numbers match RITM's GPU implementation (``isegm/model/ops.py``) exactly.

    A click is padding when both y and x are negative (RITM's rule: ``max(y, x) < 0``); the
    click-order column is ignored here (see :func:`split_points_by_order` for click groups).

    ``cpu_mode=True`` reproduces the inputs of RITM's Cython variant: coordinates are rounded to
    whole pixels and a click is padding when its y is negative. The maps themselves are the exact
    Euclidean ones; the Cython breadth-first fill equals them for a single click and can differ on
    rare pixels near the border between two clicks' regions.

    Args:
        norm_radius: disk radius / distance normaliser in pixels (> 0).
        spatial_scale: multiplies click coordinates and the radius (1.0 in all RITM models).
        cpu_mode: see above.
        use_disks: disks instead of distance maps.
    """

    def __init__(self, norm_radius: float, spatial_scale: float = 1.0, cpu_mode: bool = False,
                 use_disks: bool = False):
        super().__init__()
        if not norm_radius > 0:
            raise ValueError(f"norm_radius must be > 0, got {norm_radius!r}")
        self.norm_radius = norm_radius
        self.spatial_scale = spatial_scale
        self.cpu_mode = cpu_mode
        self.use_disks = use_disks

    def get_coord_features(self, points: torch.Tensor, batchsize: int, rows: int, cols: int) -> torch.Tensor:
        """points: (B, 2N, 3) float (y, x, order) -> (B, 2, rows, cols) float32 maps.

        Raises:
            ValueError: points is not (batchsize, 2N, 3) with an even number of rows.
        """
        if points.dim() != 3 or points.shape[0] != batchsize or points.shape[2] != 3 or points.shape[1] % 2:
            raise ValueError(f"points must be (B={batchsize}, 2N, 3) rows (y, x, order), got {tuple(points.shape)}")
        num_points = points.shape[1] // 2
        radius = self.norm_radius * self.spatial_scale
        device = points.device
        if num_points == 0:
            far = torch.full((batchsize, 2, rows, cols), _FAR, device=device)
            return (far <= radius ** 2).float() if self.use_disks else far.sqrt_().mul_(2).tanh_()

        yx = points[:, :, :2].float()
        if self.cpu_mode:
            yx = torch.round(yx)
            invalid = yx[:, :, 0] < 0
        else:
            invalid = ~valid_rows(yx)
        yx = yx * self.spatial_scale

        # (B, 2, N, rows, 1) and (B, 2, N, 1, cols) offsets; their squares broadcast to full maps.
        yx = yx.view(batchsize, 2, num_points, 2)
        invalid = invalid.view(batchsize, 2, num_points, 1, 1)
        dy = torch.arange(rows, dtype=torch.float32, device=device).view(rows, 1) - yx[..., 0, None, None]
        dx = torch.arange(cols, dtype=torch.float32, device=device).view(1, cols) - yx[..., 1, None, None]
        if not self.use_disks:
            dy = dy / radius
            dx = dx / radius
        dy2, dx2 = dy * dy, dx * dx
        if _exporting():
            # One graph for any number of clicks (ONNX / TorchScript export): no shape-dependent loop.
            dist = (dy2 + dx2).masked_fill(invalid, _FAR).amin(dim=2)
            if self.use_disks:
                return (dist <= radius ** 2).float()
            return dist.sqrt().mul(2).tanh()
        # Minimum over clicks in chunks, bounding memory to ~_CHUNK_ELEMENTS floats (exact: min is exact).
        chunk = max(1, _CHUNK_ELEMENTS // max(1, 2 * batchsize * rows * cols))
        dist = None
        for start in range(0, num_points, chunk):
            part = slice(start, start + chunk)
            d = (dy2[:, :, part] + dx2[:, :, part]).masked_fill_(invalid[:, :, part], _FAR).amin(dim=2)
            dist = d if dist is None else torch.minimum(dist, d)

        if self.use_disks:
            return (dist <= radius ** 2).float()
        return dist.sqrt_().mul_(2).tanh_()

    def forward(self, x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) (only its shape is used); points: (B, 2N, 3) -> (B, 2, H, W) float32."""
        return self.get_coord_features(points, x.shape[0], x.shape[2], x.shape[3])


def split_points_by_order(points: torch.Tensor, groups: Sequence[int]) -> list[torch.Tensor]:
    """Distribute clicks into groups by click order (RITM's ``clicks_groups`` models).

    A click with order k goes to group k; orders ``>= len(groups)`` and a *negative* first click
    (order 0) go to the last group; padding (order < 0) is dropped. Group g holds ``groups[g]``
    positive then ``groups[g]`` negative slots (a size ``<= 0`` means N, the input's clicks per
    sign); unused slots are ``(-1, -1, -1)``. Clicks keep their input order within a group.

    Args:
        points: (B, 2N, 3) float rows (y, x, order).
        groups: slot counts per group.

    Returns:
        list of (B, 2 * size_g, 3) tensors, same dtype / device as points.

    Raises:
        ValueError: a group receives more clicks of one sign than it has slots (repeated orders).
    """
    batch, total, _ = points.shape
    num_points = total // 2
    sizes = [g if g > 0 else num_points for g in groups]
    num_groups = len(sizes)

    order = torch.trunc(points[:, :, 2]).long()
    valid = order >= 0
    is_negative = (torch.arange(total, device=points.device) >= num_points).unsqueeze(0)
    group_id = torch.where((order >= num_groups) | ((order == 0) & is_negative),
                           torch.full_like(order, num_groups - 1), order)

    result = []
    for gid, size in enumerate(sizes):
        out = points.new_full((batch, 2 * size, 3), -1)
        for negative in (False, True):
            member = valid & (group_id == gid) & (is_negative == negative)
            rank = member.long().cumsum(dim=1) - 1
            if bool((rank.masked_fill(~member, -1) >= size).any()):
                raise ValueError(f"click group {gid} has {size} slot(s) per sign but received more "
                                 f"{'negative' if negative else 'positive'} clicks; click orders must be unique")
            b_idx, p_idx = member.nonzero(as_tuple=True)
            out[b_idx, rank[b_idx, p_idx] + (size if negative else 0)] = points[b_idx, p_idx]
        result.append(out)
    return result
